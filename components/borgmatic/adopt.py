"""The host check: read the backup host before BorgmaticHost changes it (script ``sh/host-check.sh``).

Runs before every delivery (they depend on it) and refuses, naming the key and what to do:

* a file at a path pg-dr would write (``configPath``, the schedule files) that pg-dr did not write (it
  lacks :data:`~components.borgmatic.plan.OWNER_MARK`): never overwritten, unless
  ``pg-dr:backup.adoptExisting`` is true, and then a copy ``<file>.pg-dr-adopted-<UTC time>`` is kept
  first. ``~/.pgpass`` is not checked: pg-dr splices its own block into it and keeps every other line;
* a schedule that would run pg-dr's config twice a night, or never: with ``schedule.kind: existing``
  the agent ``existingLabel`` must exist and run ``borgmatic`` without ``-c``/``--config`` (so it runs
  every config in ``~/.config/borgmatic.d``); with pg-dr's own agent, no other LaunchAgent or systemd
  user service may run ``borgmatic`` without ``--config`` while pg-dr's config is one a bare
  ``borgmatic`` finds, and a named ``existingLabel`` must run its own ``--config``.

The agents' arguments are read with ``plutil -extract ProgramArguments`` on macOS (the XML as is
elsewhere) and a systemd service's ``ExecStart``.
"""

from __future__ import annotations

from pathlib import Path

from components.borgmatic.config import BackupConfig
from components.borgmatic.plan import OWNER_MARK, BackupPlan
from components.remote.shell import q, script

SH = Path(__file__).resolve().parent / "sh"


def host_check(cfg: BackupConfig, plan: BackupPlan) -> str:
    """The host check script for this config."""
    files = [
        ("pg-dr:backup.configPath", cfg.resolved_config_path),
        ("pg-dr:backup.restoreCommandPath", cfg.resolved_restore_command_path),
    ]
    files += [("pg-dr:backup.schedule.label", f.path) for f in plan.schedule_files]
    sched = cfg.schedule
    schedule: list[str] = []
    if sched.kind == "existing":
        assert sched.existing_label is not None
        schedule.append(f"existing_runs_ours {q(sched.existing_kind)} {q(sched.existing_label)}")
    elif sched.kind in ("launchd", "systemd"):
        if cfg.config_found_by_default:
            schedule.append("no_agent_runs_ours")
        if sched.existing_label is not None:
            schedule.append(f"existing_runs_its_own {q(sched.existing_kind)} {q(sched.existing_label)}")
    return script(
        SH,
        "host-check.sh",
        ADOPT="1" if cfg.adopt_existing else "0",
        MARK=q(OWNER_MARK),
        CONFIG=q(cfg.resolved_config_path),
        OWN_LABEL=q(sched.label),
        FILES="\n".join(f"file {q(key)} {q(path)}" for key, path in files),
        SCHEDULE="\n".join(schedule),
    )
