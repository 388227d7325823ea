"""The restore drill's shell script (run on the backup host by RestoreDrill's ``remote.Command``).

POSIX sh plus tools macOS and Debian both ship (``mktemp``, ``awk``, ``grep -E``, ``perl`` for sub-second
time with a ``date +%s`` fallback). It carries paths, names and counts only: no secret. libpq reads the
passwords from the pgpass file (the backup's block and the drill's own block); borg reads the repository
passphrase through ``BORG_PASSCOMMAND`` (a command, not a secret).

What it does, failing with a one-line reason at the first problem:

1. the repository's latest archive (``borg list --last 1``) and, in it, the database's dump
   (``.../borgmatic/postgresql_databases/<label or host:port>/<name>``; borg < 1.4 keeps borgmatic's
   runtime directory in front);
2. the scratch database on the target: refused if it exists and is not the drill's (so a real database is
   never touched); the drill's are those with the marker comment, and those with no comment, owned by the
   drill's role and holding no relation or function (a drill killed between ``CREATE DATABASE`` and the
   ``COMMENT`` left it so). A leftover is dropped, then the scratch database is created and marked in one
   psql session;
3. the restore, timed: ``borg extract --stdout | pg_restore`` (custom, tar) or ``borg extract`` into a
   private temp dir then ``pg_restore --jobs`` (directory), always ``--no-owner --no-acl --exit-on-error``
   into the scratch database only (``--dbname`` is the scratch name; the source is never a target);
4. exact ``count(*)`` of every table of the restored database, compared with the expected counts and/or
   the source database's counts (read with the backup role), each difference reported as
   ``table <schema.table>: expected N, restored M``;
5. one result line ``pg-dr-drill-result {json}`` (archive, dump path, restore seconds, counts), built by
   PostgreSQL's JSON functions so any table name is escaped;
6. on exit, always (HUP, INT, PIPE and TERM too): the scratch database is dropped with a plain
   ``DROP DATABASE`` (``WITH (FORCE)`` would have to terminate autovacuum workers, which a role with only
   CREATEDB may not; the plain one cancels autovacuum itself), retried while another session is still
   leaving, and the temp dir removed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.borgmatic.config import BackupConfig
from components.drill.config import DrillConfig
from components.remote.pgpass import PgpassLine, pgpass_block
from components.remote.shell import BARE_PATH, ere, q, script

SH = Path(__file__).resolve().parent / "sh"
RESULT_PREFIX = "pg-dr-drill-result "
MARKER = "pg-dr restore drill scratch database (dropped after the drill)"
PGPASS_BEGIN = "# BEGIN pg-dr drill"
PGPASS_END = "# END pg-dr drill"


@dataclass(frozen=True)
class Endpoint:
    hostname: str
    port: int
    username: str
    database: str


@dataclass(frozen=True)
class DrillPlan:
    """Everything the script needs, all non-secret."""

    borg: str
    pg_bin_dir: str
    repository: str  # the repository path as borgmatic has it
    archives: str  # borg 1.x --glob-archives: only pg-dr's archives (a shared repository holds others too)
    passcommand: str | None
    pgpass_path: str
    result_path: str  # where a successful drill records its result line (what an update prints)
    dump_path: str  # borgmatic/postgresql_databases/<identifier>/<name>
    dump_format: str  # custom | tar | directory
    jobs: int
    target: Endpoint  # database = the maintenance database
    scratch: str
    source: Endpoint | None  # set: compare every table with the source's counts
    expected: Mapping[str, int]  # schema.table -> rows


def drill_plan(drill: DrillConfig, backup: BackupConfig) -> DrillPlan:
    """The script's inputs from a validated config (``drill.cross_check`` passed)."""
    (source,) = drill.source(backup)
    repo = next(r for r in backup.repositories if drill.repository in (None, r.label))
    target = drill.target
    assert target is not None and drill.scratch_name is not None  # enforced by DrillConfig
    return DrillPlan(
        borg=backup.borg_path,
        pg_bin_dir=backup.pg_bin_dir,
        repository=repo.path.rstrip("/") or "/",
        archives=archive_glob(backup.match_archives),
        passcommand=backup.encryption_passcommand,
        pgpass_path=backup.resolved_pgpass_path,
        result_path=result_path(backup.home_dir, drill.run_id),
        dump_path=source.dump_path,
        dump_format=source.format,
        jobs=source.restore_jobs or 1,
        target=Endpoint(target.hostname, target.port, target.username, target.maintenance_database),
        scratch=drill.scratch_name,
        source=Endpoint(source.hostname, source.port, source.username, source.name)
        if drill.compare_to_source
        else None,
        expected=drill.expected_tables,
    )


def archive_glob(match_archives: str) -> str:
    """borgmatic's ``match_archives`` as Borg 1.x's ``--glob-archives`` (borgmatic's own translation)."""
    return match_archives.removeprefix("sh:")


def result_path(home_dir: str, run_id: str) -> str:
    """The file on the backup host holding the result of the drill run ``run_id`` (one file per runId)."""
    return f"{home_dir.rstrip('/')}/.local/state/pg-dr/drill-{hashlib.sha256(run_id.encode()).hexdigest()[:16]}.result"


def recorded_result_script(plan: DrillPlan) -> str:
    """What an in-place update runs: print the recorded result of this runId; never restore again."""
    return script(SH, "drill-recorded-result.sh", RESULT=q(plan.result_path))


def drill_pgpass_block(drill: DrillConfig, password: str) -> str:
    """The drill's pgpass block: the target role's line."""
    t = drill.target
    assert t is not None
    line = PgpassLine(t.hostname, t.port, t.username)
    return pgpass_block(PGPASS_BEGIN, PGPASS_END, "# managed by pg-dr (pg-dr:drill.target)", [line], [password])


def _expected_lines(expected: Mapping[str, int]) -> str:
    if not expected:
        return ""
    rows = "".join(f"{table}\t{count}\n" for table, count in sorted(expected.items()))
    return f"printf '%s' {q(rows)} >\"$work/expected\""


def _source_block(source: Endpoint | None) -> str:
    if source is None:
        return ""
    return (
        f'printf \'%s\\n\' "$COUNT_SQL" | "$psql" -X -q -A -t -w -v ON_ERROR_STOP=1 -h {q(source.hostname)} '
        f'-p {q(source.port)} -U {q(source.username)} -d {q(source.database)} -f - >"$work/source" 2>"$work/err" \\\n'
        f'  || fail "cannot count the rows of the source "{q(source.database)}" on {source.hostname}:{source.port}: '
        f'$(errors "$work/err")"'
    )


def drill_script(plan: DrillPlan) -> str:
    directory = plan.dump_format == "directory"
    dump_re = "^" + ("d" if directory else "-") + " (.*/)?" + ere(plan.dump_path) + "$"
    return script(
        SH,
        "restore-drill.sh",
        BARE_PATH=":".join(BARE_PATH),
        BORG=q(plan.borg),
        PG_RESTORE=q(f"{plan.pg_bin_dir.rstrip('/')}/pg_restore"),
        PSQL=q(f"{plan.pg_bin_dir.rstrip('/')}/psql"),
        REPO=q(plan.repository),
        ARCHIVES=q(plan.archives),
        PGPASS=q(plan.pgpass_path),
        RESULT=q(plan.result_path),
        PASSCOMMAND=(f"BORG_PASSCOMMAND={q(plan.passcommand)}\nexport BORG_PASSCOMMAND" if plan.passcommand else ""),
        FORMAT=q(plan.dump_format),
        JOBS=q(plan.jobs),
        HOST=q(plan.target.hostname),
        PORT=q(plan.target.port),
        USER=q(plan.target.username),
        MAINT=q(plan.target.database),
        SCRATCH=q(plan.scratch),
        MARKER=q(MARKER),
        DUMP_RE=q(dump_re),
        FORMAT_WORD="directory" if directory else "file",
        DUMP_PATH=q(plan.dump_path),
        EXPECTED=_expected_lines(plan.expected),
        SOURCE=_source_block(plan.source),
        RESULT_PREFIX=RESULT_PREFIX,
    )


def parse_result(stdout: str | None) -> dict[str, Any]:
    """The drill's result (archive, dumpPath, scratchDatabase, target, restoreSeconds, checkedTables, counts)."""
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return {}
