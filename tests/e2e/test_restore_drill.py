"""End to end: RestoreDrill's registered commands over a real sshd, against real PostgreSQL, borg and borgmatic.

The drill runs ``pg-dr-drill``, which runs ``pg-dr-restore`` (the disaster path; its own tests are in
test_restore.py) into a scratch database on the *same* server as the source, the dangerous case: the source
database must come out byte-for-byte untouched (fingerprinted before and after) whatever happens. Here:
the runId semantics (a new runId runs it again; any other change prints the recorded verdict), the drill's
pgpass block, a corrupt dump failing with pg_restore's reason, autovacuum in the scratch database, and a
table name that needs quoting.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from components.drill.plan import parse_result
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
    assert list(steps)[-4:] == ["restore-command", "drill-command", "drill-pgpass", "drill-run"]
    run = steps["drill-run"].proc
    result = parse_result(run.stdout)
    assert result["scratchDropped"] is True
    assert result["counts"] == result["dumpCounts"] == miniflux.RUNBOOK_COUNTS
    assert result["targetDatabase"] == "miniflux_pgdr_drill"
    assert result["archive"]
    assert result["dumpPath"].endswith(f"borgmatic/postgresql_databases/localhost:{brew.port}/miniflux")
    assert 0 < result["restoreSeconds"] < 60
    assert "pg-dr-drill: dropped the scratch database miniflux_pgdr_drill" in run.stdout
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
    assert again[0].ok and parse_result(again[0].proc.stdout)["scratchDropped"] is True
    second = parse_result(again[0].proc.stdout)

    # any other change is an in-place update that does not restore again: it prints runId 2's result
    changed = engine.apply(_commands(server, _stack(server, brew, run_id="2", jobs=1)))
    changed = [s for s in changed if s.name == "drill-run"]
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
    last = run.proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]
    assert last.startswith("pg-dr-drill: FAILED ") and "pg_restore" in last and "error:" in last, last
    assert _databases(brew) == ["miniflux", "postgres"]
    assert brew.fingerprint("miniflux") == before


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
        assert parse_result(run.stdout)["scratchDropped"] is True
        assert "dropped the scratch database miniflux_pgdr_drill" in run.stdout
        assert _databases(pg) == ["miniflux", "postgres"]


def test_a_table_name_with_a_quote_keeps_the_result_json_valid(root_sshd: SshServer, brew: PostgresServer) -> None:
    server = root_sshd
    init_repository(server)
    brew.sql('CREATE TABLE "we""ird" (x int); INSERT INTO "we""ird" VALUES (1), (2), (3);', db="miniflux")
    steps = _ok(Engine(server).apply(_commands(server, _stack(server, brew))))
    result = parse_result(steps["drill-run"].proc.stdout)
    assert result["counts"]['public.we"ird'] == result["dumpCounts"]['public.we"ird'] == 3
    assert {k: v for k, v in result["counts"].items() if k != 'public.we"ird'} == miniflux.RUNBOOK_COUNTS
