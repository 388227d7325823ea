"""A new ``homeDir`` reaching the same files by another path (a symlink) must not lose them.

The new resources' creates find everything in place (``unchanged``); the old resources' deletes then run
with the old paths. They act only on what their own resource still owns: the owner record names the new
path, so they leave the config, the schedule and the pgpass block alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.backup_host import host_stack, install_stand_ins, remote_commands, secrets_env
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

PASSWORD = "alias-pw"
USER_PGPASS = b"*:*:*:me:mine\n"


def _commands(server: SshServer, home: Path) -> dict[str, dict]:
    fakes = install_stand_ins(server)
    config = host_stack(
        server,
        [{"name": "app", "hostname": "localhost", "port": 5432, "username": "borgmatic", "password": "env:PW"}],
        schedule={"kind": "launchd", "launchctlPath": fakes["launchctl"]},
        borgmaticPath=fakes["borgmatic"],
        homeDir=str(home),
    )
    render = render_config(config, resolve_secrets=True, environ=secrets_env(server, {"PW": PASSWORD}))
    return remote_commands(render)


def _ok(steps) -> list[tuple[str, str]]:
    for step in steps:
        assert step.ok, f"{step.name} {step.op}:\n{step.proc.stdout}\n{step.proc.stderr}"
    return [(s.name, s.op) for s in steps]


def test_a_home_dir_through_a_symlink_keeps_every_file(sshd_server: SshServer) -> None:
    server = sshd_server
    pgpass = server.home / ".pgpass"
    pgpass.write_bytes(USER_PGPASS)
    os.chown(pgpass, server.uid, server.gid)
    pgpass.chmod(0o600)
    link = server.root / "home-link"
    link.symlink_to(server.home)
    engine = Engine(server)
    first = _commands(server, server.home)
    _ok(engine.apply(first))
    config = server.home / ".config" / "borgmatic.d" / "pg-dr.yaml"
    plist = server.home / "Library" / "LaunchAgents" / "io.pg-dr.borgmatic.plist"
    assert PASSWORD.encode() in pgpass.read_bytes()

    second = _commands(server, link)
    steps = _ok(engine.apply(second))
    for name in ("borgmatic-config", "borgmatic-pgpass", "borgmatic-schedule"):
        assert (name, "replace-delete") in steps
    # the plist names the log under the new homeDir; the rest is the same content
    live = {p: p.read_bytes() for p in (config, plist, pgpass)}
    assert live[config].decode() == second["borgmatic-config"]["stdin"]
    assert live[plist].decode() == second["borgmatic-schedule"]["stdin"]
    assert PASSWORD.encode() in live[pgpass] and live[pgpass].endswith(USER_PGPASS)
    loaded = server.home / ".launchd-loaded"
    assert loaded.read_text() == f"gui/{server.uid}/io.pg-dr.borgmatic\n"  # the job stays loaded

    # a third apply has nothing to do, and every create finds its file in place
    assert engine.apply(second) == []
    for name in ("borgmatic-config", "borgmatic-pgpass", "borgmatic-schedule"):
        proc = server.run_registered(second[name], "create", check=True)
        assert proc.stdout.strip().endswith("unchanged"), proc.stdout
    assert {p: p.read_bytes() for p in live} == live

    # and the resources of the new path still remove what they own
    _ok(engine.apply({}))
    assert not config.exists() and not plist.exists()
    assert pgpass.read_bytes() == USER_PGPASS
