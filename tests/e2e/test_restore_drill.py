"""End to end: RestoreDrill's registered commands over a real sshd, against real PostgreSQL, borg and borgmatic.

The drill restores into a scratch database on the *same* server as the source, the dangerous case: the
source database must come out byte-for-byte untouched (fingerprinted before and after) whatever happens.
A good backup passes and exports its counts; a tampered archive (a dump missing one entry, made the
latest archive) fails with the table and both counts; a corrupt dump fails with pg_restore's reason; a
database already named like the scratch database is refused, never dropped.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from components.drill.plan import MARKER, parse_result
from components.remote.shell import sh_command
from tests.support import miniflux
from tests.support.backup_host import BORG, host_stack, init_repository, remote_commands, secrets_env
from tests.support.cnpg_sql import borgmatic_role_sql
from tests.support.postgres import PostgresServer
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

BACKUP_PW = "b0rg:mat\\ic pw"
DRILL_PW = "dr1ll:pw\\ with space"
RUNBOOK = {t.split(".", 1)[1]: n for t, n in miniflux.RUNBOOK_COUNTS.items()}


# autovacuum visits every database each second and works slowly (throttled): it is in the freshly
# restored scratch database when the drill drops it
EAGER_AUTOVACUUM = {
    "autovacuum_naptime": "1",
    "autovacuum_max_workers": "8",  # throttled workers linger: enough slots to reach every database
    "autovacuum_vacuum_threshold": "0",
    "autovacuum_analyze_threshold": "0",
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_analyze_scale_factor": "0",
    "autovacuum_vacuum_insert_threshold": "0",
    "autovacuum_vacuum_insert_scale_factor": "0",
    "autovacuum_vacuum_cost_delay": "'100ms'",
    "autovacuum_vacuum_cost_limit": "1",
}


@pytest.fixture
def brew(postgres_factory: Callable[..., PostgresServer]) -> PostgresServer:
    """The source server: the runbook's miniflux data, CNPG's read-only borgmatic role, a CREATEDB drill role."""
    return _source(postgres_factory(name="brew"))


def _source(pg: PostgresServer) -> PostgresServer:
    miniflux.create_runbook_database(pg)
    pg.sql(borgmatic_role_sql(BACKUP_PW))
    pg.create_role("pgdr_drill", password=DRILL_PW, login=True, extra="CREATEDB")
    return pg


def _stack(server: SshServer, pg: PostgresServer, run_id: str = "1", **drill) -> dict:
    db = {"name": "miniflux", "hostname": "localhost", "port": pg.port, "username": "borgmatic", "password": "env:BPW"}
    config = host_stack(server, [db], verify=True)
    config["pg-dr:drill"] = {
        "enabled": True,
        "runId": run_id,
        "database": "miniflux",
        "target": {"hostname": "127.0.0.1", "port": pg.port, "username": "pgdr_drill", "password": "env:DPW"},
        "expectedCounts": RUNBOOK,
        **drill,
    }
    return config


def _commands(server: SshServer, config: dict) -> dict[str, dict]:
    env = secrets_env(server, {"BPW": BACKUP_PW, "DPW": DRILL_PW})
    return remote_commands(render_config(config, resolve_secrets=True, environ=env))


def _ok(steps) -> dict:
    for step in steps:
        assert step.ok, f"{step.name} {step.op}:\n{step.proc.stdout}\n{step.proc.stderr}"
    return {step.name: step for step in steps}


def _databases(pg: PostgresServer) -> list[str]:
    return sorted(pg.databases())


def test_good_backup_passes_exports_results_and_reruns_on_run_id(root_sshd: SshServer, brew: PostgresServer) -> None:
    server, before = root_sshd, brew.fingerprint("miniflux")
    init_repository(server)
    engine = Engine(server)
    steps = _ok(engine.apply(_commands(server, _stack(server, brew))))
    assert list(steps)[-2:] == ["drill-pgpass", "drill-run"]
    run = steps["drill-run"].proc
    result = parse_result(run.stdout)
    assert result["ok"] is True
    assert result["counts"] == miniflux.RUNBOOK_COUNTS
    assert result["checkedTables"] == len(RUNBOOK)
    assert result["scratchDatabase"] == "miniflux_pgdr_drill"
    assert result["archive"]
    assert result["dumpPath"].endswith(f"borgmatic/postgresql_databases/localhost:{brew.port}/miniflux")
    assert 0 < result["restoreSeconds"] < 60
    assert f"OK - {len(RUNBOOK)} table counts match" in run.stdout
    assert "dropped the scratch database miniflux_pgdr_drill" in run.stdout
    # the scratch database is gone, the source is untouched, no password was printed
    assert _databases(brew) == ["miniflux", "postgres"]
    assert brew.fingerprint("miniflux") == before
    assert brew.row_counts("miniflux") == miniflux.RUNBOOK_COUNTS
    for secret in (BACKUP_PW, DRILL_PW):
        assert secret not in run.stdout + run.stderr
    # the drill's pgpass block sits beside the backup's, 0600
    pgpass = server.home / ".pgpass"
    assert oct(pgpass.stat().st_mode & 0o777) == "0o600"
    text = pgpass.read_text()
    assert "# BEGIN pg-dr drill\n" in text and "# BEGIN pg-dr\n" in text

    # same config: nothing runs; a new runId: the drill runs again (create-before-delete replacement)
    assert engine.apply(_commands(server, _stack(server, brew))) == []
    again = engine.apply(_commands(server, _stack(server, brew, run_id="2")))
    assert [(s.name, s.op) for s in again] == [("drill-run", "replace-create"), ("drill-run", "replace-delete")]
    assert again[0].ok and parse_result(again[0].proc.stdout)["ok"] is True
    second = parse_result(again[0].proc.stdout)

    # any other change is an in-place update that does not restore again: it prints runId 2's result
    changed = engine.apply(_commands(server, _stack(server, brew, run_id="2", compareToSource=True)))
    assert [(s.name, s.op) for s in changed] == [("drill-run", "update")]
    update = changed[0].proc
    assert changed[0].ok and "restoring" not in update.stdout and "not run again" in update.stdout
    assert parse_result(update.stdout) == second

    # disabling the drill removes its pgpass block, keeps the backup's
    config = _stack(server, brew)
    del config["pg-dr:drill"]
    _ok(engine.apply(_commands(server, config)))
    text = pgpass.read_text()
    assert "# BEGIN pg-dr drill" not in text and "# BEGIN pg-dr\n" in text


def _tampered_archive(
    server: SshServer, brew: PostgresServer, dump_bytes_from: str, name: str = "pg-dr-zz-forged-9999"
) -> None:
    """Make the latest archive hold a forged dump at the real dump's path (borg create as the backup user)."""
    forged = server.home / "forged"
    path = forged / "borgmatic" / "postgresql_databases" / f"localhost:{brew.port}"
    path.mkdir(parents=True)
    (path / "miniflux").write_bytes(Path(dump_bytes_from).read_bytes())
    repo = server.home / "backups" / "borg"
    passcommand = shlex.quote(f"cat {server.home / '.borg-passphrase'}")
    script = (
        f"cd {shlex.quote(str(forged))} && BORG_PASSCOMMAND={passcommand}"
        f" {BORG} create {shlex.quote(str(repo))}::{name} borgmatic"
    )
    proc = server.run(sh_command(script))
    assert proc.returncode == 0, proc.stderr


def test_tampered_backup_fails_with_the_table_and_both_counts(
    root_sshd: SshServer, brew: PostgresServer, tmp_path
) -> None:
    server = root_sshd
    init_repository(server)
    engine = Engine(server)
    config = _stack(server, brew)
    commands = _commands(server, config)
    _ok(engine.apply({k: v for k, v in commands.items() if not k.startswith("drill")}))
    # a forged dump: the runbook data minus one entry (id 1 has no enclosure), restored from a copy
    brew.sql("CREATE DATABASE forged TEMPLATE miniflux")
    brew.sql("DELETE FROM entries WHERE id = 1", db="forged")
    forged = tmp_path / "forged.dump"
    forged.write_bytes(brew.dump_custom("forged"))
    brew.drop_database("forged")
    before = brew.fingerprint("miniflux")
    _tampered_archive(server, brew, str(forged))

    steps = engine.apply(commands)
    run = steps[-1]
    assert run.name == "drill-run" and not run.ok
    assert run.proc.returncode == 1
    assert "pg-dr drill: restored row counts differ (miniflux_pgdr_drill from" in run.proc.stderr
    assert "::pg-dr-zz-forged-9999)" in run.proc.stderr
    assert "  table public.entries: expected 44, restored 43\n" in run.proc.stderr
    assert run.proc.stderr.count("table ") == 1  # only the tampered table is reported
    assert json.loads(run.proc.stdout.split("pg-dr-drill-result ", 1)[1].splitlines()[0])["ok"] is False
    assert _databases(brew) == ["miniflux", "postgres"]  # scratch dropped on failure too
    assert brew.fingerprint("miniflux") == before


def test_corrupt_dump_fails_with_pg_restores_reason(root_sshd: SshServer, brew: PostgresServer, tmp_path) -> None:
    server = root_sshd
    init_repository(server)
    engine = Engine(server)
    commands = _commands(server, _stack(server, brew))
    _ok(engine.apply({k: v for k, v in commands.items() if not k.startswith("drill")}))
    corrupt = tmp_path / "corrupt.dump"
    corrupt.write_bytes(b"PGDMP" + b"\x00" * 64)
    before = brew.fingerprint("miniflux")
    _tampered_archive(server, brew, str(corrupt))
    steps = engine.apply(commands)
    run = steps[-1]
    assert run.name == "drill-run" and not run.ok
    assert "pg-dr drill: pg_restore into miniflux_pgdr_drill failed: pg_restore: error:" in run.proc.stderr
    assert _databases(brew) == ["miniflux", "postgres"]
    assert brew.fingerprint("miniflux") == before


def test_an_existing_database_named_like_the_scratch_is_never_touched(
    root_sshd: SshServer, brew: PostgresServer
) -> None:
    server = root_sshd
    init_repository(server)
    brew.create_database("keepme", owner="pgdr_drill")
    brew.sql("CREATE TABLE precious (x int); INSERT INTO precious VALUES (42);", db="keepme")
    engine = Engine(server)
    steps = engine.apply(_commands(server, _stack(server, brew, scratchDatabase="keepme")))
    run = steps[-1]
    assert run.name == "drill-run" and not run.ok
    assert (
        "pg-dr drill: database keepme exists on 127.0.0.1:" in run.proc.stderr
        and "was not created by a pg-dr drill: refusing to touch it" in run.proc.stderr
    )
    assert brew.scalar("SELECT x FROM precious", db="keepme") == "42"
    # a scratch database a failed drill left behind (it carries the marker) is replaced, then dropped
    brew.sql(
        f"CREATE DATABASE miniflux_pgdr_drill OWNER pgdr_drill; COMMENT ON DATABASE miniflux_pgdr_drill IS '{MARKER}'"
    )
    steps = _ok(Engine(server).apply(_commands(server, _stack(server, brew))))
    assert parse_result(steps["drill-run"].proc.stdout)["ok"] is True
    assert _databases(brew) == ["keepme", "miniflux", "postgres"]


def test_autovacuum_in_the_scratch_database_does_not_fail_the_drill(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    """A role with only CREATEDB drops the scratch database while autovacuum works in it."""
    server = root_sshd
    pg = _source(postgres_factory(name="brew", settings=EAGER_AUTOVACUUM))
    # a table autovacuum takes its time over (throttled to a page per 100 ms): still at work at the drop
    pg.sql("CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 100000) g", db="miniflux")
    init_repository(server)
    engine = Engine(server)
    commands = _commands(server, _stack(server, pg))
    _ok(engine.apply({k: v for k, v in commands.items() if not k.startswith("drill")}))
    for run_id in ("1", "2"):
        steps = engine.apply(_commands(server, _stack(server, pg, run_id=run_id)))
        _ok(steps)
        (run,) = (s.proc for s in steps if s.name == "drill-run" and s.op in ("create", "replace-create"))
        assert parse_result(run.stdout)["ok"] is True
        assert "dropped the scratch database miniflux_pgdr_drill" in run.stdout
        assert _databases(pg) == ["miniflux", "postgres"]


def test_a_drill_killed_before_its_marker_does_not_block_later_drills(
    root_sshd: SshServer, brew: PostgresServer
) -> None:
    """Killed between CREATE DATABASE and COMMENT: an empty, unmarked database owned by the drill role."""
    server = root_sshd
    init_repository(server)
    brew.create_database("miniflux_pgdr_drill", owner="pgdr_drill")
    steps = _ok(Engine(server).apply(_commands(server, _stack(server, brew))))
    assert parse_result(steps["drill-run"].proc.stdout)["ok"] is True
    assert _databases(brew) == ["miniflux", "postgres"]


def test_a_table_name_with_a_quote_keeps_the_result_json_valid(root_sshd: SshServer, brew: PostgresServer) -> None:
    server = root_sshd
    init_repository(server)
    brew.sql('CREATE TABLE "we""ird" (x int); INSERT INTO "we""ird" VALUES (1), (2), (3);', db="miniflux")
    steps = _ok(Engine(server).apply(_commands(server, _stack(server, brew))))
    result = parse_result(steps["drill-run"].proc.stdout)
    assert result["ok"] is True
    assert result["counts"]['public.we"ird'] == 3
    assert {k: v for k, v in result["counts"].items() if k != 'public.we"ird'} == miniflux.RUNBOOK_COUNTS


def test_a_newer_archive_of_another_config_in_the_repository_is_not_the_drills(
    root_sshd: SshServer, brew: PostgresServer, tmp_path
) -> None:
    """A shared repository (the host's file backup writes there too): the drill restores pg-dr's latest archive."""
    server = root_sshd
    init_repository(server)
    engine = Engine(server)
    commands = _commands(server, _stack(server, brew))
    _ok(engine.apply({k: v for k, v in commands.items() if not k.startswith("drill")}))
    other = tmp_path / "other.dump"
    other.write_bytes(b"not a dump of pg-dr's")
    _tampered_archive(server, brew, str(other), name="indri-files-9999")  # newest, but not pg-dr's
    steps = _ok(engine.apply(commands))
    result = parse_result(steps["drill-run"].proc.stdout)
    assert result["ok"] is True and result["archive"].startswith("pg-dr-")
