"""The scheduler's reload is tied to the write: after a failed reload, the retry reloads until it works."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.backup_host import host_stack, install_stand_ins, remote_commands, secrets_env
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

# the stand-ins of tests/support/backup_host.py, failing one subcommand: (path, subcommand) -> wrapper
FAILING = """#!/bin/sh
echo "FAILED $*" >> "$HOME/failed.log"
case "$*" in *{word}*) exit 1 ;; esac
exec {real} "$@"
"""


def _commands(server: SshServer, schedule: dict) -> dict[str, dict]:
    """The registered commands (the stand-ins already installed: this does not overwrite them)."""
    config = host_stack(
        server,
        [{"name": "app", "hostname": "localhost", "port": 5432, "username": "borgmatic", "password": "env:PW"}],
        schedule=schedule,
        borgmaticPath=str(server.home / "bin" / "borgmatic"),
    )
    render = render_config(config, resolve_secrets=True, environ=secrets_env(server, {"PW": "pw"}))
    return remote_commands(render)


def _break(path: str, word: str) -> None:
    real = Path(path)
    saved = real.with_name(real.name + ".real")
    real.rename(saved)
    real.write_text(FAILING.format(word=word, real=saved))
    real.chmod(0o755)
    os.chown(real, saved.stat().st_uid, saved.stat().st_gid)


def _repair(path: str) -> None:
    Path(path + ".real").rename(path)


def _failed(steps) -> str:
    assert steps and not steps[-1].ok
    return steps[-1].name


def _ok(steps) -> None:
    for step in steps:
        assert step.ok, f"{step.name} {step.op}:\n{step.proc.stdout}\n{step.proc.stderr}"


def test_a_failed_daemon_reload_is_retried(sshd_server: SshServer) -> None:
    server = sshd_server
    systemctl = install_stand_ins(server)["systemctl"]
    engine = Engine(server)
    _ok(engine.apply(_commands(server, {"kind": "systemd", "hour": 3, "systemctlPath": systemctl})))
    log = server.home / "systemctl.log"
    _break(systemctl, "daemon-reload")
    later = _commands(server, {"kind": "systemd", "hour": 4, "systemctlPath": systemctl})
    assert _failed(engine.apply(later)) == "borgmatic-schedule-timer"
    timer = server.home / ".config" / "systemd" / "user" / "io.pg-dr.borgmatic.timer"
    assert "OnCalendar=*-*-* 04:" in timer.read_text()  # written, but systemd still has the old time
    _repair(systemctl)
    before = log.read_text()
    _ok(engine.apply(later))
    calls = log.read_text()[len(before) :]
    assert "--user daemon-reload" in calls and "--user restart io.pg-dr.borgmatic.timer" in calls
    # converged: re-running the create reloads nothing more
    before = log.read_text()
    server.run_registered(later["borgmatic-schedule-timer"], "create", check=True)
    assert "daemon-reload" not in log.read_text()[len(before) :]


def test_a_failed_bootout_is_retried(sshd_server: SshServer) -> None:
    server = sshd_server
    launchctl = install_stand_ins(server)["launchctl"]
    engine = Engine(server)
    _ok(engine.apply(_commands(server, {"kind": "launchd", "hour": 3, "launchctlPath": launchctl})))
    log = server.home / "launchctl.log"
    _break(launchctl, "bootout")
    later = _commands(server, {"kind": "launchd", "hour": 4, "launchctlPath": launchctl})
    steps = engine.apply(later)
    assert _failed(steps) == "borgmatic-schedule"
    assert "still loaded" in steps[-1].proc.stderr
    _repair(launchctl)
    before = log.read_text()
    _ok(engine.apply(later))
    calls = log.read_text()[len(before) :].splitlines()
    assert [c.split()[0] for c in calls if c.split()[0] != "print"] == ["bootout", "bootstrap"]
    before = log.read_text()
    server.run_registered(later["borgmatic-schedule"], "create", check=True)
    assert [c.split()[0] for c in log.read_text()[len(before) :].splitlines()] == ["print"]
