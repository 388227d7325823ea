"""End to end: ``pg-dr-restore`` and ``pg-dr-drill`` on a real backup host (sshd, borg, borgmatic) and real servers.

One module, one backup host, one repository, three servers (shared by every test, in order):

* ``brew``: the runbook's miniflux database, owned by ``miniflux``, with grants to ``reader`` and
  ``We ird`` (a role name that needs quoting) and a membership between them; CNPG's read-only
  ``borgmatic`` role; the drill role ``pgdr_drill`` (CREATEDB only);
* ``k8s``: a fresh server that has none of the dump's roles (the runbook's step 5, the lost cluster);
* the drill restores into a scratch database on ``brew`` beside the source.

``pulumi up`` (the registered commands, applied by the test engine) delivers the borgmatic config (whose
nightly run stores each server's roles with ``pg_dumpall --roles-only``), runs the verified backup,
delivers ``pg-dr-restore`` and ``pg-dr-drill``, and runs the drill. The tests then run the delivered
command over SSH as a user would at 3 a.m., and, for the kill sweep, a copy rendered against paused
stand-ins of borg, pg_restore and psql.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.borgmatic.config import BackupConfig
from components.borgmatic.scripts import parse_roles
from components.drill.plan import MARKER, parse_result
from components.remote.pgpass import pgpass_escape
from components.remote.shell import sh_command
from components.restore.plan import FAILED_PREFIX, OK_PREFIX, restore_script
from tests.e2e.test_restore_drill import BACKUP_PW, DRILL_PW, _commands, _stack
from tests.e2e.test_restore_drill import _ok as _drill_ok
from tests.support import miniflux
from tests.support.backup_host import BORG, init_repository
from tests.support.cnpg_sql import borgmatic_role_sql
from tests.support.postgres import PostgresServer
from tests.support.signals import default_signals
from tests.support.sshd import Engine, SshServer
from tests.support.tools import missing, require_borg, require_postgres, require_sshd

TARGET_PW = "t4rget:pw\\ with space"
SECRETS = (BACKUP_PW, TARGET_PW, DRILL_PW, pgpass_escape(BACKUP_PW), pgpass_escape(TARGET_PW))
GRANTS = """
CREATE ROLE reader NOLOGIN;
CREATE ROLE "We ird" NOLOGIN;
GRANT reader TO "We ird";
"""
TABLE_GRANTS = """
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader; GRANT SELECT ON users TO "We ird";
GRANT CONNECT ON DATABASE miniflux TO reader; ALTER DATABASE miniflux SET work_mem = '8MB';
"""
# what "owners and grants equal to the source's" compares: every relation's owner and ACL, the database's owner
OWNERSHIP = """
SELECT c.relname, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, '') FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
UNION ALL SELECT '(database)', pg_get_userbyid(datdba), coalesce(datacl::text, '') FROM pg_database
  WHERE datname = current_database()
UNION ALL SELECT '(settings)', array_to_string(setconfig, ','), '' FROM pg_db_role_setting
  WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION ALL SELECT 'type ' || t.typname, pg_get_userbyid(t.typowner), '' FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'
ORDER BY 1
"""


@dataclass
class Host:
    server: SshServer
    brew: PostgresServer
    k8s: PostgresServer
    engine: Engine
    config: dict
    steps: dict
    command: str  # pg-dr-restore on the host
    repo: str

    def restore(
        self, *args: str, env: str = "", shell: str = ""
    ) -> tuple[subprocess.CompletedProcess[str], dict | None]:
        """Run the delivered pg-dr-restore over SSH (under ``shell`` if given, else its ``#!/bin/sh``); its
        process and its OK JSON (None when it failed)."""
        proc = self.server.run(sh_command(f"{env} {shell} {shlex.quote(self.command)} {shlex.join(args)}".strip()))
        assert_no_secret(proc)
        last = proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]
        assert last.startswith((OK_PREFIX, FAILED_PREFIX)), proc.stdout + proc.stderr
        return proc, json.loads(last[len(OK_PREFIX) :]) if last.startswith(OK_PREFIX) else None

    def into_k8s(self, *args: str) -> list[str]:
        return ["--target-host", "127.0.0.1", "--target-port", str(self.k8s.port), "--target-user", "eblume", *args]


def assert_no_secret(proc: subprocess.CompletedProcess[str]) -> None:
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr


def _ok(steps) -> dict:
    """The drill tests' check, plus: no password in any step's output."""
    for step in steps:
        if step.proc is not None:
            assert_no_secret(step.proc)
    return _drill_ok(steps)


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    require_sshd()
    require_borg()
    require_postgres()
    started: list = []
    try:
        server = SshServer.start(as_root=True)
        started.append(server)
        brew = PostgresServer.start(name="brew")
        started.append(brew)
        k8s = PostgresServer.start(name="k8s")
        started.append(k8s)
        brew.sql(GRANTS)
        miniflux.create_runbook_database(brew)
        brew.sql(TABLE_GRANTS, db="miniflux")
        brew.sql(borgmatic_role_sql(BACKUP_PW))
        brew.create_role("pgdr_drill", password=DRILL_PW, login=True, extra="CREATEDB")
        for pg in (brew, k8s):  # the superuser a user restores with (the runbook's eblume)
            pg.create_role("eblume", password=TARGET_PW, login=True, extra="SUPERUSER")
        repo, _ = init_repository(server)
        engine = Engine(server)
        config = _stack(server, brew)
        steps = _ok(engine.apply(_commands(server, config)))
        # the user's own lines for the restore targets, outside pg-dr's blocks (as docs/restore.md says)
        pgpass = server.home / ".pgpass"
        lines = "".join(f"127.0.0.1:{pg.port}:*:eblume:{pgpass_escape(TARGET_PW)}\n" for pg in (brew, k8s))
        pgpass.write_text(pgpass.read_text() + lines)
        command = str(server.home / ".local" / "bin" / "pg-dr-restore")
        yield Host(server, brew, k8s, engine, config, steps, command, repo)
    finally:
        for thing in reversed(started):
            thing.stop()


def test_up_delivers_the_commands_and_the_nightly_run_stores_the_roles(host: Host) -> None:
    server = host.server
    assert list(host.steps) == [
        "borgmatic-preflight",
        "borgmatic-host-check",
        "borgmatic-config",
        "borgmatic-pgpass",
        "borgmatic-verify",
        "restore-command",
        "drill-command",
        "drill-pgpass",
        "drill-run",
    ]
    for name in ("pg-dr-restore", "pg-dr-drill"):
        path = server.home / ".local" / "bin" / name
        assert oct(path.stat().st_mode & 0o777) == "0o755"
        assert "Managed by pg-dr" in path.read_text()
    # the roles file: on the host 0600, in the latest archive (the verification found it)
    roles_file = server.home / ".local" / "state" / "pg-dr" / "roles" / f"localhost:{host.brew.port}.sql"
    assert oct(roles_file.stat().st_mode & 0o777) == "0o600"
    text = roles_file.read_text()
    assert 'CREATE ROLE "We ird";' in text and "CREATE ROLE reader;" in text
    assert "PASSWORD" not in text and "SCRAM-SHA-256" not in text
    (roles,) = parse_roles(host.steps["borgmatic-verify"].proc.stdout)
    assert roles.startswith("local ") and roles.endswith(f"pg-dr/roles/localhost:{host.brew.port}.sql")


def test_the_drill_at_up_runs_the_same_command(host: Host) -> None:
    run = host.steps["drill-run"].proc
    assert "pg-dr-restore: restoring " in run.stdout and " into miniflux_pgdr_drill on 127.0.0.1:" in run.stdout
    assert run.stdout.rstrip("\n").rsplit("\n", 1)[-1].startswith("pg-dr-drill: OK {")
    result = parse_result(run.stdout)
    assert result["scratchDropped"] is True
    assert result["counts"] == result["dumpCounts"] == miniflux.RUNBOOK_COUNTS
    assert result["targetDatabase"] == "miniflux_pgdr_drill" and result["rolesCreated"] == []
    assert result["archive"].startswith("pg-dr-") and 0 < result["restoreSeconds"] < 60
    assert sorted(host.brew.databases()) == ["miniflux", "postgres"]


def test_list_shows_archives_and_their_dumps(host: Host) -> None:
    proc, _ = host.restore("--list")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("archive pg-dr-")
    assert lines[1].startswith(f"  miniflux from localhost:{host.brew.port} (custom, ")
    assert lines[1].endswith(", roles)")
    assert lines[-1] == 'pg-dr-restore: OK {"repository": "local", "archives": 1}'


def test_restore_into_a_fresh_server_creates_the_roles_with_owners_and_grants(host: Host) -> None:
    brew, k8s = host.brew, host.k8s
    assert not k8s.scalar("SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname IN ('miniflux', 'reader')")
    proc, result = host.restore("--database", "miniflux", *host.into_k8s())
    assert proc.returncode == 0 and result is not None, proc.stdout + proc.stderr
    assert result["rolesCreated"] == ["We ird", "miniflux", "reader"]
    assert result["counts"] == result["dumpCounts"] == miniflux.RUNBOOK_COUNTS
    assert result["targetDatabase"] == "miniflux" and result["source"] == f"localhost:{brew.port}"
    assert result["path"] in ("stream", "stream-parallel") and set(result["seconds"]) >= {"restore", "analyze"}
    # the stream starts before the roles exist: the owner's absence fails it at once, and it starts over
    assert "restarting it into a new temporary database" in proc.stderr, proc.stderr
    assert result["archiveTime"].endswith("Z")
    assert k8s.rows(OWNERSHIP, db="miniflux") == brew.rows(OWNERSHIP, db="miniflux")
    assert k8s.fingerprint("miniflux") == brew.fingerprint("miniflux")
    # created NOLOGIN without a password; the membership the roles file holds
    created = "SELECT rolname, rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname IN ('miniflux', "
    created += "'reader', 'We ird') ORDER BY 1"
    assert k8s.rows(created) == [["We ird", "f", "t"], ["miniflux", "f", "t"], ["reader", "f", "t"]]
    assert k8s.scalar("SELECT pg_has_role('We ird', 'reader', 'MEMBER')") == "t"
    assert not [d for d in k8s.databases() if d.startswith("pgdr_restore_")]


def test_a_target_holding_a_table_is_refused_and_untouched(host: Host) -> None:
    k8s = host.k8s
    k8s.sql("INSERT INTO schema_version VALUES ('mine')", db="miniflux")
    before = k8s.fingerprint("miniflux")
    proc, result = host.restore("--database", "miniflux", *host.into_k8s())
    assert proc.returncode == 1 and result is None
    (line,) = [line for line in proc.stdout.splitlines() if "FAILED" in line]
    assert line.startswith(f"pg-dr-restore: FAILED target database miniflux on 127.0.0.1:{k8s.port} holds ")
    assert "--replace" in line
    assert k8s.fingerprint("miniflux") == before


def test_replace_drops_and_recreates_the_target(host: Host) -> None:
    k8s = host.k8s
    proc, result = host.restore("--database", "miniflux", *host.into_k8s("--replace", "--jobs", "1"))
    assert proc.returncode == 0 and result is not None, proc.stdout + proc.stderr
    assert result["path"] == "stream" and result["jobs"] == 1
    assert k8s.row_counts("miniflux") == miniflux.RUNBOOK_COUNTS  # the extra row is gone
    assert result["rolesCreated"] == []


def test_yesterday_beside_today_on_the_source_server(host: Host) -> None:
    brew = host.brew
    before = brew.fingerprint("miniflux")
    target = ["--target-host", "127.0.0.1", "--target-port", str(brew.port), "--target-user", "eblume"]
    proc, result = host.restore("--database", "miniflux", *target, "--target-database", "miniflux_yesterday")
    assert proc.returncode == 0 and result is not None, proc.stdout + proc.stderr
    assert brew.fingerprint("miniflux_yesterday") == before == brew.fingerprint("miniflux")
    assert brew.rows(OWNERSHIP, db="miniflux_yesterday") == brew.rows(OWNERSHIP, db="miniflux")
    brew.drop_database("miniflux_yesterday")


def test_the_full_temp_disk_falls_back_to_streaming(host: Host, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        missing(f"cannot mount a small tmpfs (needs root with CAP_SYS_ADMIN): {mounted.stderr.decode().strip()}")
    try:
        (small / "filler").write_bytes(b"\0" * 1024 * 1024)
        proc, result = host.restore(
            "--database", "miniflux", *host.into_k8s("--replace", "--jobs", "2", "--tmpdir", str(small))
        )
        assert proc.returncode == 0 and result is not None, proc.stdout + proc.stderr
        assert result["path"] == "stream" and result["jobs"] == 1
        assert f"no room for the dump's table of contents in {small}" in proc.stderr, proc.stderr
        assert "streaming it, single-job" in proc.stderr
        assert sorted(p.name for p in small.iterdir()) == ["filler"]
    finally:
        subprocess.run(["umount", str(small)], check=True)
    # with room, the same restore streams the data and restores the post-data in parallel
    proc, result = host.restore("--database", "miniflux", *host.into_k8s("--replace", "--jobs", "2"))
    assert result is not None and (result["path"], result["jobs"]) == ("stream-parallel", 2), proc.stdout + proc.stderr


def test_a_table_of_contents_larger_than_the_kept_start_is_read_from_a_second_stream(
    host: Host, tmp_path: Path
) -> None:
    """The post-data's parallel restore reads the dump's first 64 MB; a table of contents beyond them
    (here: a copy of the command keeping 1 KB) restores the post-data single-job from a second stream."""
    k8s = host.k8s
    command = tmp_path / "pg-dr-restore"
    text = Path(host.command).read_text()
    assert text.count("tockb=65536 ") == 1
    command.write_text(text.replace("tockb=65536 ", "tockb=1 "))
    command.chmod(0o755)
    args = ["--database", "miniflux", *host.into_k8s("--target-database", "miniflux_toc", "--jobs", "2")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(host.server.home), "TMPDIR": str(tmp_path)}
    proc = subprocess.run([str(command), *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "table of contents is larger than" in proc.stderr and "from a second stream" in proc.stderr
    assert k8s.rows(OWNERSHIP, db="miniflux_toc") == host.brew.rows(OWNERSHIP, db="miniflux")
    assert k8s.fingerprint("miniflux_toc") == host.brew.fingerprint("miniflux")
    k8s.drop_database("miniflux_toc")


def test_a_whole_restore_runs_under_bash_in_posix_mode(host: Host) -> None:
    """macOS's /bin/sh is bash 3.2 in POSIX mode: the whole restore (its fifos, its readers of the stream,
    its waits, the roles made while the data loads) under ``bash --posix`` (the other tests run it under
    dash, Debian's /bin/sh). Not under posh: posh 0.14.1's ``wait`` reads stale option state left by other
    builtins (``wait: invalid option -- 'E'``, at random), so no script that waits for a pid runs there;
    pg-dr-restore's argument handling is tested under posh in the unit tier."""
    shell = "bash --posix"
    brew, k8s = host.brew, host.k8s
    k8s.drop_database("miniflux")
    k8s.sql('DROP ROLE IF EXISTS "We ird"')  # a grantee the restore creates while the data loads
    proc, result = host.restore("--database", "miniflux", *host.into_k8s("--jobs", "2"), shell=shell)
    assert proc.returncode == 0 and result is not None, proc.stdout + proc.stderr
    assert result["rolesCreated"] == ["We ird"] and result["path"] == "stream-parallel"
    assert k8s.rows(OWNERSHIP, db="miniflux") == brew.rows(OWNERSHIP, db="miniflux")
    assert k8s.fingerprint("miniflux") == brew.fingerprint("miniflux")
    assert k8s.scalar("SELECT pg_has_role('We ird', 'reader', 'MEMBER')") == "t"


def test_no_roles_restores_everything_owned_by_the_target_user(host: Host) -> None:
    """``--no-roles`` (a target where the user cannot create roles): ``--no-owner --no-acl``, in parallel too."""
    k8s = host.k8s
    args = host.into_k8s("--target-database", "miniflux_noroles", "--no-roles", "--jobs", "2")
    proc, result = host.restore("--database", "miniflux", *args)
    assert proc.returncode == 0 and result is not None, proc.stdout + proc.stderr
    assert (result["roles"], result["rolesCreated"], result["path"]) == (False, [], "stream-parallel")
    assert result["counts"] == result["dumpCounts"] == miniflux.RUNBOOK_COUNTS
    owned = """SELECT DISTINCT pg_get_userbyid(c.relowner), c.relacl IS NULL FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"""
    assert k8s.rows(owned, db="miniflux_noroles") == [["eblume", "t"]]
    assert k8s.scalar("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'miniflux_noroles'") == "eblume"
    k8s.drop_database("miniflux_noroles")


def test_an_archive_without_the_dump_is_named(host: Host) -> None:
    _forge(host, "pg-dr-zz-nodump-9999", b"not a dump", name_in_archive="other")
    try:
        proc, result = host.restore(
            "--database", "miniflux", "--archive", "pg-dr-zz-nodump-9999", *host.into_k8s("--target-database", "nodump")
        )
    finally:
        _delete(host, "pg-dr-zz-nodump-9999")
    assert proc.returncode == 1 and result is None
    last = proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]
    assert last.startswith(
        "pg-dr-restore: FAILED archive pg-dr-zz-nodump-9999 holds no custom dump "
        f"borgmatic/postgresql_databases/localhost:{host.brew.port}/miniflux"
    ), proc.stdout
    assert last.endswith("the target is unchanged")
    assert "nodump" not in host.k8s.databases()


def _forge(host: Host, name: str, dump: bytes, *, name_in_archive: str = "miniflux") -> None:
    """An archive ``name`` holding ``dump`` at the real dump's path (borg create as the backup user)."""
    forged = host.server.home / "forged"
    shutil.rmtree(forged, ignore_errors=True)
    path = forged / "borgmatic" / "postgresql_databases" / f"localhost:{host.brew.port}"
    path.mkdir(parents=True, exist_ok=True)
    (path / name_in_archive).write_bytes(dump)
    passcommand = shlex.quote(f"cat {host.server.home / '.borg-passphrase'}")
    create = f"BORG_PASSCOMMAND={passcommand} {BORG} create {host.repo}::{name} borgmatic"
    script = f"cd {shlex.quote(str(forged))} && {create}"
    proc = host.server.run(sh_command(script))
    assert proc.returncode == 0, proc.stderr


def _delete(host: Host, name: str) -> None:
    passcommand = shlex.quote(f"cat {host.server.home / '.borg-passphrase'}")
    proc = host.server.run(sh_command(f"BORG_PASSCOMMAND={passcommand} {BORG} delete {host.repo}::{name}"))
    assert proc.returncode == 0, proc.stderr


def test_another_configs_newer_archive_is_never_picked(host: Host) -> None:
    _forge(host, "indri-files-9999", b"not a dump of pg-dr's")
    try:
        proc, result = host.restore("--database", "miniflux", *host.into_k8s("--replace"))
        assert result is not None and result["archive"].startswith("pg-dr-"), proc.stdout + proc.stderr
    finally:
        _delete(host, "indri-files-9999")


def test_the_drill_checks_expected_counts_as_minimums(host: Host) -> None:
    """A forged dump missing one entry: it restores exactly what it holds, so only expectedCounts catch it."""
    brew = host.brew
    brew.sql("CREATE DATABASE forged TEMPLATE miniflux")
    brew.sql("DELETE FROM entries WHERE id = 1", db="forged")
    dump = brew.dump_custom("forged")
    brew.drop_database("forged")
    _forge(host, "pg-dr-zz-forged-9999", dump)
    try:
        before = brew.fingerprint("miniflux")
        steps = host.engine.apply(_commands(host.server, _stack(host.server, brew, run_id="2")))
        (run,) = [s for s in steps if s.op == "replace-create"]
        assert not run.ok and run.proc.returncode == 1
        last = run.proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]
        assert last.startswith("pg-dr-drill: FAILED row counts differ from what the dump held (1: ")
        assert "  table public.entries: at least 44 expected (--min-count), restored 43\n" in run.proc.stdout
        assert sorted(brew.databases()) == ["miniflux", "postgres"] and brew.fingerprint("miniflux") == before
    finally:
        _delete(host, "pg-dr-zz-forged-9999")
    # a leftover scratch database of a drill (marked) is replaced; anything else of that name is refused
    brew.create_database("miniflux_pgdr_drill", owner="pgdr_drill")
    brew.sql(f"COMMENT ON DATABASE miniflux_pgdr_drill IS '{MARKER}'")
    brew.sql("CREATE TABLE t (x int)", db="miniflux_pgdr_drill")
    steps = host.engine.apply(_commands(host.server, _stack(host.server, brew, run_id="3")))
    _ok(steps)
    (run,) = [s for s in steps if s.op == "replace-create"]
    assert parse_result(run.proc.stdout)["scratchDropped"] is True
    brew.create_database("miniflux_pgdr_drill")
    brew.sql("CREATE TABLE precious (x int)", db="miniflux_pgdr_drill")
    steps = host.engine.apply(_commands(host.server, _stack(host.server, brew, run_id="4")))
    (run,) = [s for s in steps if s.op == "replace-create"]
    assert not run.ok and "pg-dr-drill: FAILED target database miniflux_pgdr_drill on 127.0.0.1:" in run.proc.stdout
    assert brew.tables("miniflux_pgdr_drill") == ["public.precious"]
    brew.drop_database("miniflux_pgdr_drill")


# ------------------------------------------------------------------------------------------ the kill sweep
STAND_IN = """#!/bin/sh
# a stand-in that pauses (until killed) at the phase under test, else runs the real tool
phase=$(cat {dir}/phase 2>/dev/null)
case "$phase:$*" in
  extract:extract*postgresql_databases*) touch {dir}/reached; exec sleep 30 ;;
  roles:*--schema-only*) touch {dir}/reached; exec sleep 30 ;;
  restore:*--dbname=*) touch {dir}/reached; exec sleep 30 ;;
  fail-a-session:*--section=pre-data*) sleep 2 ;; # the roles are made first: the pre-data goes in
esac
exec {real} "$@"
"""
# psql reads its SQL from stdin: look at it, then hand the same bytes on
PSQL_STAND_IN = """#!/bin/sh
phase=$(cat {dir}/phase 2>/dev/null)
f=$(mktemp {dir}/sql.XXXXXX)
cat >"$f"
case $phase in
  analyze) grep -q -x 'ANALYZE;' "$f" && {{ rm -f "$f"; touch {dir}/reached; exec sleep 30; }} ;;
  verify) grep -q -e '-- pg-dr-restore: verify' "$f" && {{ rm -f "$f"; touch {dir}/reached; exec sleep 30; }} ;;
  rename) grep -q -e 'RENAME TO' "$f" && {{ rm -f "$f"; touch {dir}/reached; exec sleep 30; }} ;;
  load) grep -q -e ' FROM stdin;$' "$f" && {{ rm -f "$f"; touch {dir}/reached; exec sleep 30; }} ;;
  fail-a-session) grep -q -e ' FROM stdin;$' "$f" && mkdir {dir}/failed 2>/dev/null \
    && {{ rm -f "$f"; echo 'ERROR:  a session fails (injected)' >&2; exit 3; }} ;;
esac
exec 3<"$f"
rm -f "$f"
exec {real} "$@" <&3 3<&-
"""


def _stand_ins(directory: Path, pg_bin: Path) -> None:
    for name, real, template in (
        ("borg", BORG, STAND_IN),
        ("pg_restore", str(pg_bin / "pg_restore"), STAND_IN),
        ("psql", str(pg_bin / "psql"), PSQL_STAND_IN),
    ):
        path = directory / name
        path.write_text(template.format(real=shlex.quote(real), dir=shlex.quote(str(directory))))
        path.chmod(0o755)


@pytest.mark.parametrize("phase", ["extract", "roles", "restore", "load", "analyze", "verify", "rename"])
def test_a_kill_at_every_phase_leaves_no_partial_target_and_no_temp_file(
    host: Host, tmp_path: Path, phase: str
) -> None:
    k8s, server = host.k8s, host.server
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    _stand_ins(stand_ins, host.brew.bin_dir)
    backup = dict(host.config["pg-dr:backup"], borgPath=str(stand_ins / "borg"), pgBinDir=str(stand_ins))
    for db in backup["databases"]:
        db.pop("password", None)
    cfg = BackupConfig.model_validate(backup)
    command = tmp_path / "pg-dr-restore"
    command.write_text(restore_script(cfg))
    command.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    (stand_ins / "phase").write_text(phase)
    k8s.drop_database("miniflux")  # and a role the dump names: the restore creates it, a failed one drops it
    k8s.sql('DROP ROLE IF EXISTS "We ird"')
    roles_before = k8s.scalar("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles")
    # TERM and KILL to the command; at the restore, also HUP to its process group (a dropped SSH session)
    for how in (signal.SIGTERM, signal.SIGKILL, *([signal.SIGHUP] if phase in ("restore", "load") else [])):
        (stand_ins / "reached").unlink(missing_ok=True)
        target = f"killed_{phase}"
        args = ["--database", "miniflux", *host.into_k8s("--target-database", target, "--jobs", "2")]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(server.home), "TMPDIR": str(temp)}
        proc = subprocess.Popen(
            [str(command), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, preexec_fn=default_signals,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (stand_ins / "reached").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"phase {phase} never reached"
            time.sleep(0.05)
        if how == signal.SIGHUP:
            os.killpg(proc.pid, how)
        else:
            os.kill(proc.pid, how)
        proc.wait(timeout=60)  # reaped at once, as a parent shell or sshd would
        out, err = proc.communicate(timeout=60)
        if how != signal.SIGKILL:
            reason = "killed (TERM)" if how == signal.SIGTERM else "interrupted (HUP)"
            assert out.rstrip("\n").rsplit("\n", 1)[-1].startswith(f"pg-dr-restore: FAILED {reason}"), out + err
            assert "the target is unchanged" in out
        # the watchdog cleans up after a SIGKILL: give it a moment
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            left = [d for d in k8s.databases() if d.startswith("pgdr_restore_") or d == target]
            roles = k8s.scalar("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles")
            if not left and not list(temp.iterdir()) and roles == roles_before:
                break
            time.sleep(0.2)
        assert not [d for d in k8s.databases() if d.startswith("pgdr_restore_") or d == target], (how, out, err)
        assert not list(temp.iterdir()), how
        assert k8s.scalar("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles") == roles_before


def test_a_session_that_fails_while_the_data_loads_is_named_and_nothing_is_left(host: Host, tmp_path: Path) -> None:
    """With --jobs 2 the data is dealt out to two psql sessions; one failing (here: the first to get a COPY)
    fails the restore at once, named, with no restart (the pre-data, which names the roles, went in: only
    its failure means a role was missing), and leaves no temporary database, created role or work file."""
    k8s = host.k8s
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    _stand_ins(stand_ins, host.brew.bin_dir)
    (stand_ins / "phase").write_text("fail-a-session")
    backup = dict(host.config["pg-dr:backup"], borgPath=str(stand_ins / "borg"), pgBinDir=str(stand_ins))
    backup["databases"] = [{k: v for k, v in db.items() if k != "password"} for db in backup["databases"]]
    command = tmp_path / "pg-dr-restore"
    command.write_text(restore_script(BackupConfig.model_validate(backup)))
    command.chmod(0o755)
    # a role the dump names is missing: created by the restore (before its pre-data, which waits here), and
    # dropped again when it fails
    k8s.sql('DROP ROLE IF EXISTS "We ird"')
    roles_before = k8s.scalar("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles")
    temp = tmp_path / "tmp"
    temp.mkdir()
    args = ["--database", "miniflux", *host.into_k8s("--target-database", "half", "--jobs", "2")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(host.server.home), "TMPDIR": str(temp)}
    proc = subprocess.run([str(command), *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]
    assert re.match(r"pg-dr-restore: FAILED pg_restore into pgdr_restore_\S+ failed: session [12] of 2: ERROR: "
                    r" a session fails \(injected\); nothing restored: ", last), last  # fmt: skip
    assert last.endswith("the target is unchanged") and "restarting" not in proc.stderr, proc.stderr
    assert "created roles NOLOGIN without password: We ird" in proc.stdout
    assert (stand_ins / "failed").is_dir()
    assert "half" not in k8s.databases() and not [d for d in k8s.databases() if d.startswith("pgdr_restore_")]
    assert k8s.scalar("SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles") == roles_before
    assert not list(temp.iterdir())


LOSE_A_ROW = """#!/bin/sh
# pg_restore that loses a row of what it restored (a fault the count check must catch)
{real} "$@" || exit
for a; do case $a in --dbname=*) db=${{a#--dbname=}} ;; esac; done
[ -z "${{db:-}}" ] || {psql} -X -q -w -h 127.0.0.1 -p {port} -U eblume -d "$db" -c 'DELETE FROM entries WHERE id = 1'
"""


def test_a_restore_that_loses_a_row_fails_naming_the_table(host: Host, tmp_path: Path) -> None:
    pg_bin, k8s = host.brew.bin_dir, host.k8s
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for tool in ("psql", "pg_dumpall", "pg_dump"):
        (stand_ins / tool).symlink_to(pg_bin / tool)
    text = LOSE_A_ROW.format(
        real=shlex.quote(str(pg_bin / "pg_restore")), psql=shlex.quote(str(pg_bin / "psql")), port=k8s.port
    )
    (stand_ins / "pg_restore").write_text(text)
    (stand_ins / "pg_restore").chmod(0o755)
    backup = dict(host.config["pg-dr:backup"], pgBinDir=str(stand_ins))
    backup["databases"] = [{k: v for k, v in db.items() if k != "password"} for db in backup["databases"]]
    command = tmp_path / "pg-dr-restore"
    command.write_text(restore_script(BackupConfig.model_validate(backup)))
    command.chmod(0o755)
    args = ["--database", "miniflux", *host.into_k8s("--target-database", "lossy", "--jobs", "1")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(host.server.home)}
    proc = subprocess.run([str(command), *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "  table public.entries: dump has 44, restored 43\n" in proc.stdout
    last = proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]
    assert last.startswith("pg-dr-restore: FAILED row counts differ from what the dump held (1: table public.entries")
    assert last.endswith("the target is unchanged")
    assert "lossy" not in k8s.databases() and not [d for d in k8s.databases() if d.startswith("pgdr_restore_")]


def test_the_scheduled_drill_runs_the_delivered_drill_as_the_timer_would(host: Host) -> None:
    """The scheduled drill's wrapper (issue 17) around the real ``pg-dr-drill`` delivered by ``up`` (issue 15):
    run with the agent's environment (HOME, no PATH), it restores the newest archive, appends the history,
    writes the metrics and pings its check with the restore seconds."""
    from components.monitoring.config import MonitoringConfig
    from components.monitoring.plan import drill_wrapper, drill_wrapper_path, report_script
    from tests.support.ping_server import PingServer

    home = host.server.home
    backup = BackupConfig.model_validate(
        {**host.config["pg-dr:backup"], "metrics": {"textfilePath": str(home / "textfile" / "pg-dr.prom")}}
    )
    with PingServer() as hc:
        mon = MonitoringConfig.model_validate({"healthchecks": {"pingUrl": hc.url("/ping/drill")}})
        for path, text in (
            (backup.report_path, report_script(backup)),
            (drill_wrapper_path(backup), drill_wrapper(backup, mon, {}, rto_seconds=600, timeout=600)),
        ):
            Path(path).write_text(text)
            Path(path).chmod(0o700)
        proc = host.server.run(
            sh_command(f"/usr/bin/env -i HOME={shlex.quote(str(home))} {drill_wrapper_path(backup)}")
        )
        assert_no_secret(proc)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        success = [p for p in hc.requests if p.path == "/ping/drill"]
        assert hc.paths()[0] == "/ping/drill/start" and len(success) == 1
    (entry,) = [
        json.loads(line) for line in (home / ".local" / "state" / "pg-dr" / "drills.jsonl").read_text().splitlines()
    ]
    assert entry["ok"] is True and entry["failure"] is None and entry["database"] == "miniflux"
    assert entry["counts"] == miniflux.RUNBOOK_COUNTS and entry["archive"].startswith("pg-dr-")
    assert f"restored in {entry['restoreSeconds']}s" in success[0].body
    metrics = {
        line.split()[0]: float(line.split()[1])
        for line in (home / "textfile" / "pg-dr.prom").read_text().splitlines()
        if not line.startswith("#")
    }
    assert metrics["pgdr_drill_last_ok"] == 1 and metrics["pgdr_drill_restore_seconds"] == entry["restoreSeconds"]
    assert "miniflux_pgdr_drill" not in host.brew.databases()  # the scratch database is gone
