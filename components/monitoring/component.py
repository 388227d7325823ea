"""ScheduledDrill: the restore drill every week (``pg-dr:drill.schedule``), reported (docs/monitoring.md).

On the backup host, over BorgmaticHost's connection and after the RestoreDrill (which delivers
``pg-dr-drill``, the restore contract), children made by :mod:`components.remote`:

``<name>-wrapper``   ``pg-dr-drill-scheduled`` (0700) beside ``pg-dr-drill``: under pg-dr's run lock it runs
                     the drill, checks the RPO and RTO, appends to ``~/.local/state/pg-dr/drills.jsonl``,
                     writes the metrics and pings ``pg-dr:drill.monitoring``. With a secret ping URL or
                     token the file holds it, so it is delivered as a secret (stdin, nothing logged).
``<name>-schedule*`` its LaunchAgent or systemd user service + timer, installed and activated exactly as the
                     backup's (:func:`components.borgmatic.component.install_schedule`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from components.borgmatic.component import install_schedule
from components.borgmatic.config import BackupConfig
from components.borgmatic.plan import REDACTED, WEEKDAYS, Job, job_files, pgpass_env, run_path
from components.drill.config import DrillConfig
from components.monitoring.deliver import monitored_file
from components.monitoring.plan import drill_wrapper, drill_wrapper_path
from components.outputs import RENDER_FILES, host_file
from components.remote.command import RemoteCommands
from components.secrets.resolver import ResolvedSecrets


@dataclass(frozen=True)
class ScheduledDrillArgs:
    drill: DrillConfig
    backup: BackupConfig
    secrets: ResolvedSecrets
    connection: remote.ConnectionArgs
    run_after: Sequence[pulumi.Resource] = field(default_factory=list)


def drill_job(drill: DrillConfig, backup: BackupConfig) -> Job:
    sched = drill.scheduled(backup)
    assert sched is not None
    env = {"PATH": run_path(backup), **pgpass_env(backup)}
    argv = [drill_wrapper_path(backup)]
    return Job(
        sched.label,
        argv,
        env,
        backup.home_dir,
        sched.hour,
        sched.minute,
        sched.weekday,
        "pg-dr restore drill",
        "drill.schedule",
    )


def wrapper_text(drill: DrillConfig, backup: BackupConfig, values: dict[Any, str]) -> str:
    return drill_wrapper(backup, drill.monitoring, values, rto_seconds=drill.rto_seconds, timeout=drill.timeout_seconds)


class ScheduledDrill(pulumi.ComponentResource):
    """The scheduled restore drill on the backup host: wrapper, schedule, reports."""

    deliveries: list[remote.Command]
    summary: dict[str, Any]

    def __init__(self, name: str, args: ScheduledDrillArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:ScheduledDrill", name, None, opts)
        drill, backup = args.drill, args.backup
        sched = drill.scheduled(backup)
        assert sched is not None  # build_stack creates this component only for a scheduled drill
        commands = RemoteCommands(self, name, args.connection)
        refs = drill.monitoring.secret_refs()
        review = wrapper_text(drill, backup, dict.fromkeys(refs, REDACTED))
        path = drill_wrapper_path(backup)
        wrapper = monitored_file(
            commands,
            "wrapper",
            path,
            drill.monitoring,
            args.secrets,
            lambda values: wrapper_text(drill, backup, values),
            depends_on=args.run_after,
            mode="700",
        )
        self.deliveries = [wrapper]

        job = drill_job(drill, backup)
        files = job_files(sched.kind, job)

        def deliver(suffix: str, file_path: str, file_text: str, **hooks: str) -> None:
            self.deliveries.append(commands.file(suffix, file_path, file_text, depends_on=[*self.deliveries], **hooks))

        install_schedule(sched.kind, sched.launchctl_path, sched.systemctl_path, sched.label, files, deliver)
        for key in drill.monitoring.plain_urls():
            pulumi.log.warn(
                f"pg-dr:drill.monitoring.{key} is plain text: anyone who reads the stack file can report a "
                "successful drill; make it a secret reference (op://, env:, config:)",
                self,
            )
        when = f"{sched.hour:02d}:{sched.minute:02d}"
        self.summary = {
            "schedule": sched.kind,
            "label": sched.label,
            "when": f"{'daily' if sched.weekday is None else WEEKDAYS[sched.weekday]} {when}",
            "wrapper": path,
            "history": f"{backup.state_dir}/drills.jsonl",
            "rpoHours": backup.rpo_hours,
            "rtoSeconds": drill.rto_seconds,
            "reportsTo": drill.monitoring.reports_to(),
        }
        render = {host_file(backup.host, "pg-dr-drill-scheduled"): review}
        render |= {host_file(backup.host, f.unit): f.text for f in files}
        self.register_outputs({**self.summary, RENDER_FILES: render})
