"""The restore drill on the backup host: ``pg-dr-drill``, which runs ``pg-dr-restore`` (the disaster path).

``pg-dr-drill`` (``sh/pg-dr-drill.sh``) is a delivered file next to ``pg-dr-restore``, with the settings of
``pg-dr:drill`` baked in; RestoreDrill's run at ``up`` and the scheduled drill run the same file. It
carries paths, names and counts only, no secret: libpq reads the passwords from the pgpass file (the
backup's block and the drill's own block).

What it does, its last line ``pg-dr-drill: OK {json}`` or ``pg-dr-drill: FAILED <reason>``:

1. one drill at a time on the host (a lock directory holding the holder's pid; a dead holder's is taken
   over; another live one is waited for, bounded);
2. the scratch database: a leftover of a drill (it carries :data:`MARKER`) is replaced (``--replace``);
   any other database of that name is never touched (pg-dr-restore refuses a target holding a table);
3. ``pg-dr-restore`` into the scratch database (``--comment`` marks it), which restores into a temporary
   database, checks every table's exact row count against what the dump held and the ``expectedCounts``
   as minimums (``--min-count``), and only then renames it to the scratch name;
4. the scratch database dropped (a plain ``DROP DATABASE``, retried while a session leaves; only a marked
   one), on success and on failure, and on HUP, INT, PIPE and TERM.

The run at ``up`` (``sh/drill-run.sh``) records a passed drill's verdict line for its runId
(``~/.local/state/pg-dr/``), which an update without a new runId prints instead of restoring again.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from pathlib import Path
from typing import Any

from components.borgmatic.config import BackupConfig
from components.drill.config import DrillConfig
from components.remote.command import digest
from components.remote.pgpass import PgpassLine, pgpass_block
from components.remote.shell import BARE_PATH, fail_traps, q, script
from components.restore.plan import DEFAULT_LOCK_WAIT

SH = Path(__file__).resolve().parent / "sh"
RESULT_PREFIX = "pg-dr-drill: OK "
FAILED_PREFIX = "pg-dr-drill: FAILED "
MARKER = "pg-dr restore drill scratch database (dropped after the drill)"
PGPASS_BEGIN = "# BEGIN pg-dr drill"
PGPASS_END = "# END pg-dr drill"


def state_dir(home_dir: str) -> str:
    return f"{home_dir.rstrip('/')}/.local/state/pg-dr"


def result_path(home_dir: str, run_id: str) -> str:
    """The file on the backup host holding the result of the drill run ``run_id`` (one file per runId)."""
    return f"{state_dir(home_dir)}/drill-{hashlib.sha256(run_id.encode()).hexdigest()[:16]}.result"


def drill_script(drill: DrillConfig, backup: BackupConfig) -> str:
    """The ``pg-dr-drill`` file for a validated config (``drill.cross_check`` passed)."""
    (source,) = drill.source(backup)
    repository = next(r for r in backup.repositories if drill.repository in (None, r.label))
    target = drill.target
    assert target is not None and drill.scratch_name is not None  # enforced by DrillConfig
    options = [f"--min-count {q(f'{table}={count}')}" for table, count in sorted(drill.expected_tables.items())]
    if not drill.roles:
        options.append("--no-roles")
    if drill.jobs is not None:
        options.append(f"--jobs {drill.jobs}")
    return script(
        SH,
        "pg-dr-drill.sh",
        FAIL_TRAPS=fail_traps(),
        BARE_PATH=":".join(BARE_PATH),
        RESTORE=q(backup.resolved_restore_command_path),
        PSQL=q(posixpath.join(backup.pg_bin_dir, "psql")),
        PGPASS=q(backup.resolved_pgpass_path),
        LOCK=q(f"{backup.state_dir}/drill.lock"),
        LOCK_WAIT=str(backup.lock_wait if backup.lock_wait is not None else DEFAULT_LOCK_WAIT),
        HOST=q(target.hostname),
        PORT=q(target.port),
        USER=q(target.username),
        MAINT=q(target.maintenance_database),
        SCRATCH=q(drill.scratch_name),
        MARKER=q(MARKER),
        DATABASE=q(source.name),
        SOURCE=f"--source {q(f'{source.hostname}:{source.port}')}",
        REPOSITORY=q(repository.label),
        OPTIONS=" ".join(options),
    )


def run_script(drill: DrillConfig, backup: BackupConfig) -> str:
    """What RestoreDrill runs at ``up``: pg-dr-drill, recording a passed drill's verdict for this runId."""
    return script(
        SH,
        "drill-run.sh",
        DRILL=q(backup.drill_command_path),
        RESULT=q(result_path(backup.home_dir, drill.run_id)),
        DIGEST=digest(drill_script(drill, backup)),
    )


def recorded_result_script(drill: DrillConfig, backup: BackupConfig) -> str:
    """What an in-place update runs: print the recorded result of this runId; never restore again."""
    return script(SH, "drill-recorded-result.sh", RESULT=q(result_path(backup.home_dir, drill.run_id)))


def drill_pgpass_block(drill: DrillConfig, password: str) -> str:
    """The drill's pgpass block: the target role's line."""
    t = drill.target
    assert t is not None
    line = PgpassLine(t.hostname, t.port, t.username)
    return pgpass_block(PGPASS_BEGIN, PGPASS_END, "# managed by pg-dr (pg-dr:drill.target)", [line], [password])


def parse_result(stdout: str | None) -> dict[str, Any]:
    """The drill's result: pg-dr-restore's JSON (archive, restoreSeconds, counts, dumpCounts, ...) plus
    ``scratchDropped``; ``{}`` without a passed drill's line."""
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return {}
