"""The exact commands BorgmaticHost registers, run over a real sshd as pulumi-command would run them.

Each test renders a stack whose ``pg-dr:backup`` targets a throwaway user behind a real sshd on loopback
(pinned host key, key auth, zsh login shell), then applies the registered ``create``/``update``/``delete``
strings with their stdin through ``Engine`` (the Pulumi engine's create/update/replace/delete rules).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.borgmatic import plan as files
from components.config.stack import parse_stack_config
from offline.engine import reveal
from tests.support.backup_host import host_stack, install_stand_ins, remote_commands, secrets_env
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer
from tests.support.stacks import HOST_KEY

PASSWORD = "s3cret: with\\ back slash"
USER_PGPASS = b"# my own entries\n*:*:*:me:my\\:own pw\nother.host:5433:app:app:x\n# no newline at the end"


def _databases(port: int = 5432) -> list[dict]:
    return [
        {"name": "miniflux", "hostname": "localhost", "port": port, "username": "borgmatic", "password": "env:PW"},
        {
            "name": "miniflux",
            "hostname": "k8s-pg.example.net",
            "port": port,
            "username": "borgmatic",
            "password": "env:PW",
        },
    ]


def _render(server: SshServer, config: dict) -> dict[str, dict]:
    render = render_config(config, resolve_secrets=True, environ=secrets_env(server, {"PW": PASSWORD}))
    return remote_commands(render)


def _launchd_stack(server: SshServer, databases: list[dict] | None = None, **backup) -> dict:
    fakes = install_stand_ins(server)
    return host_stack(
        server,
        databases or _databases(),
        schedule={"kind": "launchd", "launchctlPath": fakes["launchctl"]},
        **{"borgmaticPath": fakes["borgmatic"], **backup},
    )


def _write_user_pgpass(server: SshServer) -> Path:
    path = server.home / ".pgpass"
    path.write_bytes(USER_PGPASS)
    path.chmod(0o644)
    os.chown(path, server.uid, server.gid)
    return path


def _expected_block(server: SshServer, config: dict) -> bytes:
    cfg = parse_stack_config({k.split(":", 1)[1]: v for k, v in config.items()}).backup
    entries = files.pgpass_entries(cfg)
    return files.pgpass_block(entries, [PASSWORD] * len(entries)).encode()


def _snapshot(home: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        str(p.relative_to(home)): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
        for p in home.rglob("*")
        if p.is_file() and not p.name.endswith(".log")
    }


def _history(path: Path) -> list[Path]:
    """The history entries of ``path`` (``<path>.pg-dr-history/<UTC time>-<n>[-removed]``), oldest first."""
    directory = Path(f"{path}.pg-dr-history")
    return sorted(p for p in directory.glob("2*")) if directory.exists() else []


def _ok(steps) -> list[tuple[str, str]]:
    for step in steps:
        assert step.ok, f"{step.name} {step.op} failed:\n{step.proc.stdout}\n{step.proc.stderr}"
    return [(s.name, s.op) for s in steps]


def test_apply_lands_files_with_modes_and_a_second_apply_changes_nothing(sshd_server: SshServer) -> None:
    server = sshd_server
    assert server.shell.endswith("zsh"), "the login shell should be zsh, like macOS (apt-get install zsh)"
    pgpass = _write_user_pgpass(server)
    config = _launchd_stack(server)
    commands = _render(server, config)
    engine = Engine(server)
    engine_steps = engine.apply(commands)
    assert _ok(engine_steps) == [
        ("borgmatic-preflight", "create"),
        ("borgmatic-host-check", "create"),
        ("borgmatic-config", "create"),
        ("borgmatic-pgpass", "create"),
        ("borgmatic-schedule", "create"),
        ("restore-command", "create"),
    ]
    steps_output = "".join(s.proc.stdout + s.proc.stderr for s in engine_steps)
    assert PASSWORD not in steps_output and PASSWORD.replace(":", "\\:") not in steps_output
    config_file = server.home / ".config" / "borgmatic.d" / "pg-dr.yaml"
    assert config_file.read_text() == commands["borgmatic-config"]["stdin"]
    plist = server.home / "Library" / "LaunchAgents" / "io.pg-dr.borgmatic.plist"
    assert plist.read_text() == commands["borgmatic-schedule"]["stdin"]
    for path in (config_file, plist, pgpass):
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.stat().st_uid == server.uid
    # the user's lines kept byte for byte, our block first so its lines win libpq's first match
    assert pgpass.read_bytes() == _expected_block(server, config) + USER_PGPASS
    assert (server.home / "launchctl.log").read_text().splitlines()[-1] == (f"bootstrap gui/{server.uid} {plist}")

    # second apply, same inputs: the engine has nothing to run
    before = _snapshot(server.home)
    assert Engine.apply(engine, _render(server, config)) == []
    # and the scripts themselves are idempotent: re-running every create changes no byte, inode or mtime
    launchctl_calls = (server.home / "launchctl.log").read_text()
    for name in ("borgmatic-config", "borgmatic-pgpass", "borgmatic-schedule"):
        proc = server.run_registered(commands[name], "create", check=True)
        assert proc.stdout.strip().endswith("unchanged"), proc.stdout
    assert _snapshot(server.home) == before
    # the only previous version is the user's own .pgpass from before the first apply
    (previous,) = (p for p in server.home.rglob("*") if p.parent.name.endswith(".pg-dr-history") and p.name[0] == "2")
    assert previous.parent.name == ".pgpass.pg-dr-history" and previous.read_bytes() == USER_PGPASS
    assert previous.stat().st_mode & 0o777 == 0o600 and previous.parent.stat().st_mode & 0o777 == 0o700
    new_calls = (server.home / "launchctl.log").read_text()[len(launchctl_calls) :]
    assert new_calls == f"print gui/{server.uid}/io.pg-dr.borgmatic\n"  # already loaded: no reload


def test_changed_config_keeps_the_previous_version(sshd_server: SshServer) -> None:
    server = sshd_server
    pgpass = _write_user_pgpass(server)
    first = _launchd_stack(server)
    first_commands = _render(server, first)
    engine = Engine(server)
    _ok(engine.apply(first_commands))
    config_file = server.home / ".config" / "borgmatic.d" / "pg-dr.yaml"
    first_pgpass = pgpass.read_bytes()

    # runbook rollback: remove the k8s-pg database (a config change)
    second = _launchd_stack(server, _databases()[:1])
    second_commands = _render(server, second)
    steps = engine.apply(second_commands)
    assert _ok(steps) == [
        ("borgmatic-preflight", "replace-create"),  # re-checked before the new config goes out
        ("borgmatic-host-check", "replace-create"),  # the host read again: the config there is pg-dr's
        ("borgmatic-config", "replace-create"),
        ("borgmatic-pgpass", "replace-create"),
        ("restore-command", "replace-create"),  # pg-dr-restore knows the databases: it changes too
        # the old resources' deletes run at the end of the run, in reverse order
        ("restore-command", "replace-delete"),
        ("borgmatic-pgpass", "replace-delete"),
        ("borgmatic-config", "replace-delete"),
        ("borgmatic-host-check", "replace-delete"),
        ("borgmatic-preflight", "replace-delete"),
    ]
    # the old resource's delete saw a newer version and left it
    assert steps[8].proc is None and steps[9].proc is None  # host check and preflight have no delete
    for step in steps[5:8]:
        assert "holds another version" in step.proc.stdout
    assert config_file.read_text() == second_commands["borgmatic-config"]["stdin"]
    assert "k8s-pg" not in config_file.read_text()
    (previous,) = _history(config_file)
    assert previous.read_text() == first_commands["borgmatic-config"]["stdin"]
    assert previous.stat().st_mode & 0o777 == 0o600
    assert pgpass.read_bytes() == _expected_block(server, second) + USER_PGPASS
    assert b"k8s-pg" not in pgpass.read_bytes()
    previous_pgpass = _history(pgpass)[-1]
    assert previous_pgpass.read_bytes() == first_pgpass and previous_pgpass.stat().st_mode & 0o777 == 0o600

    # and back: the user's lines survive every apply
    _ok(engine.apply(_render(server, first)))
    assert pgpass.read_bytes() == first_pgpass
    assert [p.read_text() for p in _history(config_file)] == [
        first_commands["borgmatic-config"]["stdin"],
        second_commands["borgmatic-config"]["stdin"],
    ]


def test_delete_moves_files_aside_and_keeps_the_users_lines(sshd_server: SshServer) -> None:
    server = sshd_server
    pgpass = _write_user_pgpass(server)
    commands = _render(server, _launchd_stack(server))
    engine = Engine(server)
    _ok(engine.apply(commands))
    steps = engine.apply({})
    assert _ok(steps) == [
        ("restore-command", "delete"),
        ("borgmatic-schedule", "delete"),
        ("borgmatic-pgpass", "delete"),
        ("borgmatic-config", "delete"),
        ("borgmatic-host-check", "delete"),
        ("borgmatic-preflight", "delete"),
    ]
    assert steps[-1].proc is None  # preflight has nothing to undo
    config_dir = server.home / ".config" / "borgmatic.d"
    (removed,) = _history(config_dir / "pg-dr.yaml")
    assert removed.name.endswith("-removed") and removed.read_text() == commands["borgmatic-config"]["stdin"]
    assert not (config_dir / "pg-dr.yaml").exists()
    (plist,) = _history(server.home / "Library" / "LaunchAgents" / "io.pg-dr.borgmatic.plist")
    assert plist.name.endswith("-removed") and plist.read_text() == commands["borgmatic-schedule"]["stdin"]
    assert f"bootout gui/{server.uid}/io.pg-dr.borgmatic" in (server.home / "launchctl.log").read_text()
    assert pgpass.read_bytes() == USER_PGPASS  # our block out, the user's bytes untouched
    block = reveal(commands["borgmatic-pgpass"]["stdin"]).split("\n", 1)[1]  # behind its header line
    assert block.encode() + USER_PGPASS == _history(pgpass)[-1].read_bytes()


def test_a_wrong_host_key_is_refused(sshd_server: SshServer) -> None:
    server = sshd_server
    assert server.host_key != HOST_KEY
    config = _launchd_stack(server, hostKey=HOST_KEY)
    steps = Engine(server).apply(_render(server, config))
    assert [(s.name, s.op) for s in steps] == [("borgmatic-preflight", "create")]
    assert steps[0].proc.returncode == 255
    assert "Host key verification failed" in steps[0].proc.stderr
    assert not (server.home / ".config").exists() and not (server.home / ".pgpass").exists()
    assert "Accepted publickey" not in server.log()


def test_preflight_names_a_missing_binary_and_its_key(sshd_server: SshServer) -> None:
    server = sshd_server
    config = _launchd_stack(server, borgPath="/opt/missing/bin/borg")
    steps = Engine(server).apply(_render(server, config))
    assert [(s.name, s.op) for s in steps] == [("borgmatic-preflight", "create")]
    assert steps[0].proc.returncode == 1
    assert "pg-dr:backup.borgPath: /opt/missing/bin/borg is not an executable file" in steps[0].proc.stderr
    assert not (server.home / ".config").exists()  # nothing delivered after a failed preflight


def test_preflight_reports_versions(sshd_server: SshServer) -> None:
    from components.borgmatic.scripts import parse_versions

    commands = _render(sshd_server, _launchd_stack(sshd_server))
    proc = sshd_server.run_registered(commands["borgmatic-preflight"], "create", check=True)
    versions = parse_versions(proc.stdout)
    assert set(versions) == {"borg", "borgmatic", "pg_dump", "pg_dumpall", "pg_restore", "psql"}
    assert versions["borg"].startswith("borg 1.") and versions["pg_dump"].startswith("pg_dump (PostgreSQL) ")


def test_systemd_schedule_is_enabled_and_disabled(sshd_server: SshServer) -> None:
    server = sshd_server
    fakes = install_stand_ins(server)
    config = host_stack(
        server,
        _databases(),
        schedule={"kind": "systemd", "hour": 3, "systemctlPath": fakes["systemctl"]},
        borgmaticPath=fakes["borgmatic"],
    )
    commands = _render(server, config)
    engine = Engine(server)
    _ok(engine.apply(commands))
    unit_dir = server.home / ".config" / "systemd" / "user"
    assert (unit_dir / "io.pg-dr.borgmatic.service").read_text() == commands["borgmatic-schedule-service"]["stdin"]
    assert (unit_dir / "io.pg-dr.borgmatic.timer").read_text() == commands["borgmatic-schedule-timer"]["stdin"]
    runtime = f"XDG_RUNTIME_DIR=/run/user/{server.uid}"
    assert (server.home / "systemctl.log").read_text().splitlines() == [
        f"{runtime} --user daemon-reload",
        f"{runtime} --user daemon-reload",
        f"{runtime} --user restart io.pg-dr.borgmatic.timer",
        f"{runtime} --user enable --now io.pg-dr.borgmatic.timer",
    ]
    _ok(engine.apply({}))
    log = (server.home / "systemctl.log").read_text().splitlines()
    assert log[4:] == [
        f"{runtime} --user disable --now io.pg-dr.borgmatic.timer",
        f"{runtime} --user daemon-reload",
        f"{runtime} --user daemon-reload",
    ]
    assert not (unit_dir / "io.pg-dr.borgmatic.timer").exists()
    for unit in ("io.pg-dr.borgmatic.service", "io.pg-dr.borgmatic.timer"):
        (removed,) = _history(unit_dir / unit)
        assert removed.name.endswith("-removed")


def test_ssh_agent_authentication(sshd_server: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pg-dr:backup.privateKey the provider uses the SSH agent (SSH_AUTH_SOCK)."""
    config = _launchd_stack(sshd_server)
    del config["pg-dr:backup"]["privateKey"]
    commands = _render(sshd_server, config)
    assert "privateKey" not in reveal(commands["borgmatic-preflight"]["connection"])
    monkeypatch.setenv("SSH_AUTH_SOCK", sshd_server.start_agent())
    proc = sshd_server.run_registered(commands["borgmatic-preflight"], "create")
    assert proc.returncode == 0, proc.stderr
