"""End to end: RPO below a day (``pg-dr:backup.databases[].every``) beside the nightly backup, one repository.

Real PostgreSQL (a miniflux-shaped database and a nightly-only one), borg, borgmatic and sshd: ``up``'s
commands deliver both configs and both systemd schedules (a systemctl stand-in); then the nightly and the
frequent services' commands run as their timers would (ExecStart with the unit's Environment=), with a
day's miniflux churn between runs. Neither config's prune removes the other's archives (their archive
names and matches never overlap), the frequent archives hold only the frequent database, and what an
hourly run adds to the repository is measured (borg's deduplicated size) and printed.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from typing import Any

from components.remote.shell import sh_command
from tests.support.backup_host import (
    BORG,
    host_stack,
    init_repository,
    install_stand_ins,
    remote_commands,
    secrets_env,
)
from tests.support.miniflux import CHURN, UNDO_CHURN, create_schema, generate
from tests.support.postgres import PostgresServer
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

PASSWORD = "frequent pw"


def _service_command(server: SshServer, unit: str) -> str:
    """The unit's ExecStart with its Environment= lines and HOME, nothing else (as systemd runs it)."""
    text = (server.home / ".config" / "systemd" / "user" / unit).read_text().splitlines()
    env = [line[len("Environment=") :] for line in text if line.startswith("Environment=")]
    (exec_start,) = (line[len("ExecStart=") :] for line in text if line.startswith("ExecStart="))
    words = " ".join(shlex.quote(w) for w in [f"HOME={server.home}", *shlex.split(" ".join(env))])
    return sh_command(f"/usr/bin/env -i {words} {exec_start}")


def _run(server: SshServer, unit: str) -> None:
    proc = server.run(_service_command(server, unit))
    assert proc.returncode == 0, f"{unit}:\n{proc.stdout}\n{proc.stderr}"


def _borg(server: SshServer, passcommand: str, *args: str) -> str:
    proc = server.as_user([BORG, *args], env={"BORG_PASSCOMMAND": passcommand})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _unique_size(server: SshServer, repo: str, passcommand: str) -> int:
    return int(json.loads(_borg(server, passcommand, "info", "--json", repo))["cache"]["stats"]["unique_csize"])


def test_nightly_and_hourly_never_remove_each_others_archives(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    server = root_sshd
    pg = postgres_factory(name="freq")
    pg.create_role("borgmatic", password=PASSWORD, login=True, in_roles=["pg_read_all_data"])
    pg.create_database("miniflux")
    create_schema(pg, "miniflux")
    # small for CI; PGDR_FREQUENT_ENTRIES=112000 gives the benchmark's ~500 MB database for a measurement
    generate(pg, "miniflux", entries=int(os.environ.get("PGDR_FREQUENT_ENTRIES", "2000")))
    pg.create_database("wiki")
    repo, passcommand = init_repository(server)
    fakes = install_stand_ins(server)
    entry: dict[str, Any] = {"hostname": "127.0.0.1", "port": pg.port, "username": "borgmatic", "password": "env:PW"}
    config = host_stack(
        server,
        [{"name": "miniflux", **entry, "every": "1h"}, {"name": "wiki", **entry}],
        schedule={"kind": "systemd", "hour": 2, "systemctlPath": fakes["systemctl"]},
        metrics={"textfilePath": str(server.home / "textfile" / "pg-dr.prom")},
    )
    render = render_config(config, resolve_secrets=True, environ=secrets_env(server, {"PW": PASSWORD}))
    steps = Engine(server).apply(remote_commands(render))
    for step in steps:
        assert step.ok, f"{step.name}:\n{step.proc.stdout}\n{step.proc.stderr}"
    names = [s.name for s in steps]
    assert "borgmatic-frequent-config" in names and "borgmatic-frequent-schedule-timer" in names
    timer = (server.home / ".config" / "systemd" / "user" / "io.pg-dr.borgmatic.frequent.timer").read_text()
    assert "OnCalendar=*-*-* *:30:00" in timer
    assert "enable --now io.pg-dr.borgmatic.frequent.timer" in (server.home / "systemctl.log").read_text()

    _run(server, "io.pg-dr.borgmatic.service")  # the night
    before = _unique_size(server, repo, passcommand)
    pg.sql(CHURN, db="miniflux")  # an hour of miniflux activity (a day's worth, to be generous)
    _run(server, "io.pg-dr.borgmatic.frequent.service")
    added = _unique_size(server, repo, passcommand) - before
    pg.sql(UNDO_CHURN, db="miniflux")
    _run(server, "io.pg-dr.borgmatic.frequent.service")
    _run(server, "io.pg-dr.borgmatic.service")  # the next night: its prune runs after the hourly ones

    archives = _borg(server, passcommand, "list", "--short", repo).split()
    nightly = [a for a in archives if a.startswith("pg-dr-")]
    frequent = [a for a in archives if a.startswith("pgdr-frequent-")]
    # borgmatic prunes before it creates; each prune keeps one archive per day (nightly) or hour (frequent).
    # Had either counted the other's archives (all made within the same hour), the frequent prunes would
    # have removed the first nightly archive and the second nightly prune the first frequent one.
    assert len(nightly) == 2 and len(frequent) == 2 and len(archives) == 4, archives
    paths = _borg(server, passcommand, "list", "--short", f"{repo}::{frequent[-1]}").split()
    assert any(p.endswith("/miniflux") for p in paths) and not any(p.endswith("/wiki") for p in paths)
    paths = _borg(server, passcommand, "list", "--short", f"{repo}::{nightly[-1]}").split()
    assert any(p.endswith("/miniflux") for p in paths) and any(p.endswith("/wiki") for p in paths)
    # the frequent runs report the frequent database only; the nightly both
    metrics = (server.home / "textfile" / "pg-dr.prom").read_text()
    assert f'pgdr_backup_last_success_timestamp_seconds{{database="wiki",server="127.0.0.1:{pg.port}"}}' in metrics
    # what an hourly run adds: borg deduplicates the unchanged part of the dump
    dump = int(pg.scalar("SELECT pg_database_size('miniflux')"))
    print(f"\nfrequent run after a day's churn added {added} bytes to a repository of {before} (database {dump})")
    assert 0 < added < before  # deduplicated: less than another copy of the repository's first backup
