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

* archive names another writer's prune would delete, or that pg-dr's would (:mod:`components.borgmatic.archives`):
  a host whose name ``<host>-`` (borgmatic's default names ``{hostname}-{now}``) overlaps pg-dr's prefix,
  and an archive in a repository that pg-dr's ``matchArchives`` matches but its format cannot produce
  (``borg list``, read-only; a repository it cannot read now is noted, not refused).

The agents' arguments are read with ``plutil -extract ProgramArguments`` on macOS (the XML as is
elsewhere) and a systemd service's ``ExecStart``.
"""

from __future__ import annotations

from pathlib import Path

from components.borgmatic.archives import literal_head, match_prefix, name_ere
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
    if plan.report_text is not None:
        files.append(("pg-dr:backup.restoreCommandPath", cfg.report_path))
    if plan.frequent_config_text is not None:
        files.append(("pg-dr:backup.databases[].every", cfg.frequent_config_path))
    files += [("pg-dr:backup.databases[].every", f.path) for f in plan.frequent_schedule_files]
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
    prefix = match_prefix(cfg.match_archives)
    assert prefix is not None  # BackupConfig proved it
    borg_env = ["BORG_RELOCATED_REPO_ACCESS_IS_OK=no", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no"]
    if cfg.encryption_passcommand:
        borg_env.append(f"BORG_PASSCOMMAND={q(cfg.encryption_passcommand)}")
    return script(
        SH,
        "host-check.sh",
        ARCHIVE_HEAD=q(literal_head(cfg.archive_name_format)),
        ARCHIVE_PREFIX=q(prefix),
        ARCHIVE_ERE=q(name_ere(cfg.archive_name_format)),
        BORG_ENV=" ".join(borg_env),
        BORG=q(cfg.borg_path),
        ARCHIVES="\n".join(f"names_in {q(r.path)}" for r in cfg.repositories),
        ADOPT="1" if cfg.adopt_existing else "0",
        MARK=q(OWNER_MARK),
        CONFIG=q(cfg.resolved_config_path),
        OWN_LABEL=q(sched.label),
        FILES="\n".join(f"file {q(key)} {q(path)}" for key, path in files),
        SCHEDULE="\n".join(schedule),
    )
