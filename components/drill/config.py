"""``pg-dr:drill``: the opt-in restore drill (see docs/configuration.md, ``pg-dr:drill``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from components.borgmatic.config import BackupConfig, DatabaseConfig, Label
from components.config.base import (
    AbsPath,
    Hostname,
    Model,
    PgIdent,
    Port,
    RoleName,
    Text,
    _NestedProblems,
    suggest,
)
from components.monitoring.config import MonitoringConfig
from components.remote.pgpass import PgpassLine, password_conflicts
from components.secrets.refs import SecretRef

# ----------------------------------------------------------------------------------------------- drill
_TABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}")
DRILL_FORMATS = ("custom", "tar", "directory")
# Never a drill's scratch database: PostgreSQL's own and CNPG's.
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1"})


class DrillTargetConfig(Model):
    """The server the drill restores into, and a role there with CREATEDB (with ``roles: false``, the
    default, pg-dr-restore restores with --no-owner --no-acl, so no superuser is needed)."""

    hostname: Hostname = "localhost"
    port: Port = 5432
    username: RoleName
    password: SecretRef | None = None  # None: the role's line is already in the backup host's pgpass file
    maintenance_database: PgIdent = "postgres"  # where CREATE/DROP DATABASE run


class DrillScheduleConfig(Model):
    """``pg-dr:drill.schedule``: the scheduled drill, shaped like ``pg-dr:backup.schedule`` plus ``weekday``.

    Unset values follow the backup: the same kind (launchd or systemd; none when the backup has no
    schedule), two hours after the backup's time, on Sundays (``weekday`` 0); ``daily: true`` every day.
    """

    kind: Literal["launchd", "systemd", "none"] | None = None
    hour: int | None = Field(default=None, ge=0, le=23)
    minute: int | None = Field(default=None, ge=0, le=59)
    weekday: int = Field(default=0, ge=0, le=7)  # 0 or 7 Sunday .. 6 Saturday
    daily: bool = False
    label: Label = "io.pg-dr.drill"
    launchctl_path: AbsPath | None = None  # default: pg-dr:backup.schedule's
    systemctl_path: AbsPath | None = None

    def resolved(self, backup: BackupConfig) -> ResolvedDrillSchedule:
        b = backup.schedule
        kind = self.kind
        if kind is None:
            kind = b.existing_kind if b.kind == "existing" else ("none" if b.kind == "none" else b.kind)
        return ResolvedDrillSchedule(
            kind=kind,
            hour=self.hour if self.hour is not None else (b.hour + 2) % 24,
            minute=self.minute if self.minute is not None else b.minute,
            weekday=None if self.daily else self.weekday,
            label=self.label,
            launchctl_path=self.launchctl_path or b.launchctl_path,
            systemctl_path=self.systemctl_path or b.systemctl_path,
        )


@dataclass(frozen=True)
class ResolvedDrillSchedule:
    kind: str
    hour: int
    minute: int
    weekday: int | None
    label: str
    launchctl_path: str
    systemctl_path: str


class DrillConfig(Model):
    """``pg-dr:drill``: the opt-in restore drill (RestoreDrill). Change ``runId`` to run it again."""

    enabled: bool = False
    run_id: Text = Field(default="1", min_length=1)
    database: PgIdent | None = None  # a name in pg-dr:backup.databases
    source_hostname: Hostname | None = None  # pick the dump when several entries share the name
    source_port: Port | None = None
    repository: Label | None = None  # repository label; default: the first repository
    target: DrillTargetConfig | None = None
    scratch_database: PgIdent | None = None  # default: <database>_pgdr_drill
    # table or schema.table -> at least this many rows (the dump's own counts are always checked exactly)
    expected_counts: dict[str, Annotated[int, Field(ge=0)]] | None = None
    roles: bool = False  # restore owners and grants (pg-dr-restore without --no-roles): the target role needs them
    jobs: int | None = Field(default=None, ge=1)  # pg-dr-restore --jobs; default: the host's cores
    compare_to_source: bool | None = None  # removed (issue 15): the dump's own counts replace it
    schedule: DrillScheduleConfig = DrillScheduleConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    rto_seconds: int | None = Field(default=None, ge=1)  # a scheduled drill slower than this fails
    timeout_seconds: int = Field(default=4 * 3600, ge=60)  # a scheduled drill running longer is stopped

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> DrillConfig:
        problems: list[tuple[str, str]] = []
        if self.enabled:
            if self.database is None:
                problems.append(("database", "required when the drill is enabled"))
            if self.target is None:
                problems.append(("target", "required when the drill is enabled (hostname, port, username)"))
        if self.compare_to_source is not None:
            problems.append(
                ("compareToSource", "removed: every drill now compares each table with the rows the dump held "
                 "(exact) and expectedCounts as minimums; delete this key")
            )  # fmt: skip
        for table in self.expected_counts or {}:
            if not _TABLE.fullmatch(table):
                problems.append((f"expectedCounts.{table}", "is not a table name (table or schema.table)"))
        scratch = self.scratch_name
        if scratch is not None:
            if scratch == self.database:
                problems.append(("scratchDatabase", f"must differ from the source database {self.database!r}"))
            if scratch in SYSTEM_DATABASES or (self.target and scratch == self.target.maintenance_database):
                problems.append(("scratchDatabase", f"{scratch!r} is a system or maintenance database"))
        if problems:
            raise _NestedProblems(problems)
        return self

    def scheduled(self, backup: BackupConfig | None) -> ResolvedDrillSchedule | None:
        """The scheduled drill's resolved schedule, or None (drill off, no backup, or kind none)."""
        if not self.enabled or backup is None:
            return None
        resolved = self.schedule.resolved(backup)
        return resolved if resolved.kind != "none" else None

    @property
    def scratch_name(self) -> str | None:
        if self.scratch_database is not None:
            return self.scratch_database
        return f"{self.database}_pgdr_drill"[:63] if self.database else None

    @property
    def expected_tables(self) -> dict[str, int]:
        """``expectedCounts`` keyed ``schema.table`` (bare names are in ``public``)."""
        return {(t if "." in t else f"public.{t}"): n for t, n in (self.expected_counts or {}).items()}

    def source(self, backup: BackupConfig) -> list[DatabaseConfig]:
        """The backup.databases entries this drill's settings match (exactly one when valid)."""
        return [
            db
            for db in backup.databases
            if db.name == self.database
            and self.source_hostname in (None, db.hostname)
            and self.source_port in (None, db.port)
        ]

    def cross_check(self, backup: BackupConfig | None) -> list[tuple[str, str]]:
        """Problems only visible with pg-dr:backup: the dump exists, is restorable, and is never overwritten."""
        if not self.enabled:
            return []
        if backup is None:
            return [("drill.enabled", "the drill restores borgmatic's archives: configure pg-dr:backup")]
        problems: list[tuple[str, str]] = []
        sched = self.scheduled(backup)
        if sched is not None and sched.label in (backup.schedule.label, backup.schedule.existing_label):
            problems.append(("drill.schedule.label", f"{sched.label!r} is the backup's label: choose another"))
        if backup.match_archives.partition(":")[0] in ("re", "pp", "id"):
            problems.append(
                (
                    "backup.matchArchives",
                    "the drill finds pg-dr's latest archive with Borg 1.x --glob-archives, which takes a shell "
                    "pattern (sh:...) only",
                )
            )
        matches = self.source(backup)
        if not matches:
            configured = ", ".join(db.key for db in backup.databases)
            problems.append(
                (
                    "drill.database",
                    f"no pg-dr:backup.databases entry matches {self._wanted()} (configured: {configured})"
                    + suggest(self.database or "", sorted({db.name for db in backup.databases}), listing=False),
                )
            )
        elif len(matches) > 1:
            found = ", ".join(db.key for db in matches)
            problems.append(("drill.sourceHostname", f"{self._wanted()} is ambiguous ({found}): set sourceHostname"))
        elif matches[0].format not in DRILL_FORMATS:
            problems.append(("drill.database", f"the drill restores {'/'.join(DRILL_FORMATS)} dumps, not plain"))
        labels = [r.label for r in backup.repositories]
        if self.repository is not None and self.repository not in labels:
            problems.append(("drill.repository", f"no repository labelled {self.repository!r} ({', '.join(labels)})"))
        if self.target is not None:
            t = self.target
            for i, db in enumerate(backup.databases):
                if (db.hostname, db.port, db.name) == (t.hostname, t.port, self.scratch_name):
                    problems.append(
                        ("drill.scratchDatabase", f"{db.key} is backed up (backup.databases[{i}]): never a scratch")
                    )
            if t.password is not None:
                target = ("drill.target.password", PgpassLine(t.hostname, t.port, t.username), t.password)
                for where, first, line in password_conflicts([*backup.pgpass_lines(), target]):
                    if where == target[0]:
                        problems.append((where, f"differs from backup.{first.removesuffix('.password')} for {line}"))
        return problems

    def _wanted(self) -> str:
        where = f"{self.source_hostname or '*'}:{self.source_port or '*'}"
        return f"{where}/{self.database}"
