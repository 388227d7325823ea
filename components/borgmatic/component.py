"""BorgmaticHost: borgmatic on the backup host, configured over SSH (runbook steps 1, 2, 7 and 8).

Children (all ``command:remote:Command``, one SSH session each, made by :mod:`components.remote`):

``<name>-preflight``  every configured binary is an executable on the host (a missing one fails ``up``
                      naming the path and its config key); versions become the ``versions`` output.
``<name>-host-check`` reads the host before anything is written: a file at one of pg-dr's paths that
                      pg-dr did not write is refused (or, with ``adoptExisting``, copied aside first);
                      the schedule must give pg-dr's config exactly one nightly run (``adopt.py``).
``<name>-config``     the borgmatic config (``configPath``, default ``~/.config/borgmatic.d/pg-dr.yaml``:
                      its own file beside the host's, its own archive names; 0600).
``<name>-pgpass``     the ``# BEGIN pg-dr`` block of ``~/.pgpass`` (0600), the user's lines kept; its
                      stdin is secret and it logs nothing.
``<name>-schedule*``  the LaunchAgent plist (bootstrapped) or the systemd user service + timer (enabled).
``<name>-login-wait`` (with ``verify``) each database served by the CNPG cluster accepts its user's login
                      with the delivered pgpass, waited for up to ``loginWaitSeconds`` (CNPG applies a new
                      role or password asynchronously, after the Kubernetes apply returns).
``<name>-verify``     ``borgmatic config validate``, ``borgmatic create``, then every repository's latest
                      archive must hold every database's dump; after the tailnet grant and the CNPG
                      role Secrets/Cluster (``verify_after``) and every delivery.

What is delivered is computed once by :func:`components.borgmatic.plan.plan_backup`; this module only
turns that plan into resources.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from components.borgmatic import adopt, readiness, scripts
from components.borgmatic.config import BackupConfig
from components.borgmatic.plan import (
    PGPASS_BEGIN,
    PGPASS_END,
    BackupPlan,
    ScheduleFile,
    borgmatic_config,
    pgpass_block,
    plan_backup,
)
from components.monitoring.deliver import monitored_file
from components.monitoring.plan import coverage_calls, parse_uncovered
from components.outputs import RENDER_FILES
from components.remote.command import RemoteCommands, connection_args, digest
from components.secrets.resolver import ResolvedSecrets


@dataclass(frozen=True)
class BorgmaticHostArgs:
    backup: BackupConfig
    secrets: ResolvedSecrets
    # What the verification needs first: the tailnet grant (Acl), the role Secrets and the Cluster.
    verify_after: Sequence[pulumi.Resource] = field(default_factory=list)
    # A scheduled drill shares pg-dr's run lock: borgmatic's hooks take it (components/monitoring).
    drill_scheduled: bool = False


class BorgmaticHost(pulumi.ComponentResource):
    """borgmatic on one backup host: preflight, config, ``~/.pgpass``, schedule, verification."""

    connection: remote.ConnectionArgs
    preflight: remote.Command
    host_check: remote.Command
    login_wait: remote.Command | None
    deliveries: list[remote.Command]
    verify: remote.Command | None
    versions: pulumi.Output[dict[str, str]]
    dumps: pulumi.Output[list[str]]
    uncovered: pulumi.Output[list[str]]
    summary: dict[str, Any]
    render_files: dict[str, str]

    def __init__(self, name: str, args: BorgmaticHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:BorgmaticHost", name, None, opts)
        cfg = args.backup
        plan = plan_backup(cfg, args.drill_scheduled)
        self.connection = connection_args(
            cfg.host,
            cfg.port,
            cfg.user,
            cfg.host_key,
            args.secrets.get(cfg.private_key) if cfg.private_key is not None else None,
        )
        commands = RemoteCommands(self, name, self.connection)
        content = [digest(text) for text in plan.content_triggers]

        # re-checked whenever the config or schedule changes, before they are delivered
        self.preflight = commands.command(
            "preflight", scripts.preflight(plan.binaries), depends_on=[], triggers=content
        )
        # reads the host (and keeps copies of adopted files) before any delivery; re-run on every change
        self.host_check = commands.command(
            "host-check",
            adopt.host_check(cfg, plan),
            depends_on=[self.preflight],
            triggers=[*content, f"adoptExisting={cfg.adopt_existing}", f"schedule={cfg.schedule.model_dump_json()}"],
        )
        self.deliveries = [self._config(commands, cfg, plan, args.secrets, args.drill_scheduled)]
        if plan.report_text is not None:
            self.deliveries.append(
                commands.file(
                    "report",
                    cfg.report_path,
                    plan.report_text,
                    depends_on=[self.preflight, self.host_check],
                    mode="700",
                )
            )
        pgpass_digest = self._pgpass(commands, cfg, plan, args.secrets)
        self._schedule(commands, cfg, plan)
        if cfg.frequent:
            self._frequent(commands, cfg, plan, args.secrets)

        # CNPG applies a new role or password after the apply returns: wait (bounded) until it logs in
        self.login_wait = None
        wait = readiness.wait_login(cfg, plan.pgpass_env)
        if wait is not None and cfg.verify:
            self.login_wait = commands.command(
                "login-wait",
                wait,
                depends_on=[self.preflight, *self.deliveries, *args.verify_after],
                triggers=[*content, *([pgpass_digest] if pgpass_digest is not None else [])],
            )

        self.verify = None
        if cfg.verify:
            script = scripts.verify(
                cfg.borgmatic_path,
                cfg.resolved_config_path,
                cfg.home_dir,
                [r.label for r in cfg.repositories],
                plan.expected_dumps,
                plan.pgpass_env,
                coverage=coverage_calls(cfg),
                psql=posixpath.join(cfg.pg_bin_dir, "psql"),
                report=cfg.report_path if plan.report_text is not None and cfg.metrics is not None else None,
                more_configs=[cfg.frequent_config_path] if cfg.frequent else [],
            )
            self.verify = commands.command(
                "verify",
                script,
                depends_on=[
                    self.preflight,
                    self.host_check,
                    *self.deliveries,
                    *args.verify_after,
                    *([self.login_wait] if self.login_wait is not None else []),
                ],
                triggers=[*content, *([pgpass_digest] if pgpass_digest is not None else [])],
            )

        for key in cfg.monitoring.plain_urls():
            pulumi.log.warn(
                f"pg-dr:backup.monitoring.{key} is plain text: anyone who reads the stack file can report a "
                "successful night; make it a secret reference (op://, env:, config:)",
                self,
            )
        self.versions = self.preflight.stdout.apply(scripts.parse_versions)
        self.dumps = self.verify.stdout.apply(scripts.parse_dumps) if self.verify else pulumi.Output.from_input([])
        self.uncovered = (
            self.verify.stdout.apply(_warn_uncovered(self)) if self.verify else pulumi.Output.from_input([])
        )
        self.render_files = plan.render_files(cfg.host)
        self.summary = {
            "host": cfg.host,
            "user": cfg.user,
            "configPath": cfg.resolved_config_path,
            "pgpassPath": cfg.resolved_pgpass_path,
            "schedule": cfg.schedule.kind,
            "scheduleLabel": cfg.schedule.existing_label if cfg.schedule.kind == "existing" else cfg.schedule.label,
            "databases": [db.key for db in cfg.databases],
            "reportsTo": cfg.monitoring.reports_to(),
            "versions": self.versions,
            "dumps": self.dumps,
            "uncoveredDatabases": self.uncovered,
        }
        if cfg.host_key is None:
            pulumi.log.warn(
                f"pg-dr:backup.insecureIgnoreHostKey is true: the host key of {cfg.host} is not checked "
                "(pin pg-dr:backup.hostKey outside dev)",
                self,
            )
        self.register_outputs({**self.summary, RENDER_FILES: self.render_files})

    def _config(
        self,
        commands: RemoteCommands,
        cfg: BackupConfig,
        plan: BackupPlan,
        secrets: ResolvedSecrets,
        drill_scheduled: bool,
    ) -> remote.Command:
        """The borgmatic config; with monitoring secrets (a ping URL, a token) it is itself a secret."""
        return monitored_file(
            commands,
            "config",
            cfg.resolved_config_path,
            cfg.monitoring,
            secrets,
            lambda values: borgmatic_config(cfg, values, drill_scheduled),
            depends_on=[self.preflight, self.host_check],
        )

    def _pgpass(
        self, commands: RemoteCommands, cfg: BackupConfig, plan: BackupPlan, secrets: ResolvedSecrets
    ) -> pulumi.Output[str] | None:
        """Deliver the pgpass block (secret); its digest, which the verification re-runs on."""
        entries = plan.pgpass_entries
        if not entries:
            return None
        passwords = [secrets.get(e.database.password) for e in entries if e.database.password is not None]
        block = pulumi.Output.secret(pulumi.Output.all(*passwords).apply(lambda pw: pgpass_block(entries, pw)))
        self.deliveries.append(
            commands.pgpass_block(
                "pgpass",
                cfg.resolved_pgpass_path,
                block,
                PGPASS_BEGIN,
                PGPASS_END,
                depends_on=[self.preflight, self.host_check],
            )
        )
        return pulumi.Output.secret(block.apply(digest))

    def _frequent(
        self, commands: RemoteCommands, cfg: BackupConfig, plan: BackupPlan, secrets: ResolvedSecrets
    ) -> None:
        """The frequent config (``databases[].every``) and its schedule, beside the nightly one."""
        self.deliveries.append(
            monitored_file(
                commands,
                "frequent-config",
                cfg.frequent_config_path,
                cfg.monitoring,
                secrets,
                lambda values: borgmatic_config(cfg, values, frequent=True),
                depends_on=[self.preflight, self.host_check],
            )
        )
        sched = cfg.schedule
        install_schedule(
            sched.kind, sched.launchctl_path, sched.systemctl_path, cfg.frequent_label, plan.frequent_schedule_files,
            lambda suffix, path, text, **hooks: self._deliver(commands, f"frequent-{suffix}", path, text, **hooks),
        )  # fmt: skip

    def _schedule(self, commands: RemoteCommands, cfg: BackupConfig, plan: BackupPlan) -> None:
        sched = cfg.schedule
        install_schedule(
            sched.kind, sched.launchctl_path, sched.systemctl_path, sched.label, plan.schedule_files,
            lambda suffix, path, text, **hooks: self._deliver(commands, suffix, path, text, **hooks),
        )  # fmt: skip

    def _deliver(self, commands: RemoteCommands, suffix: str, path: str, text: str, **hooks: str) -> None:
        """A schedule file, after the preflight and every delivery before it (one at a time, in order)."""
        self.deliveries.append(
            commands.file(suffix, path, text, depends_on=[self.preflight, self.host_check, *self.deliveries], **hooks)
        )


Deliver = Callable[..., None]


def _warn_uncovered(resource: pulumi.Resource) -> Callable[[str], list[str]]:
    def warn(stdout: str) -> list[str]:
        found = parse_uncovered(stdout)
        if found:
            pulumi.log.warn(
                f"databases not backed up (add them to pg-dr:backup.databases): {', '.join(found)}", resource
            )
        return found

    return warn


def install_schedule(
    kind: str, launchctl: str, systemctl: str, label: str, files: Sequence[ScheduleFile], deliver: Deliver
) -> None:
    """Deliver and activate a job's schedule files (launchd: one plist; systemd: service, then timer).

    ``deliver(suffix, path, text, **hooks)`` delivers one file (hooks: ``after_change``, ``always``,
    ``before_remove``, ``after_remove``); the backup's and the scheduled drill's schedules both go this way.
    """
    if kind == "launchd":
        (plist,) = files
        after_change, always = scripts.launchd_reload(launchctl, label, plist.path)
        deliver(
            "schedule",
            plist.path,
            plist.text,
            after_change=after_change,
            always=always,
            before_remove=scripts.launchd_unload(launchctl, label),
        )
    elif kind == "systemd":
        service, timer = files
        reload = scripts.systemd_user(systemctl, "daemon-reload")
        timer_unit = f"{label}.timer"
        deliver("schedule-service", service.path, service.text, after_change=reload, after_remove=reload)
        deliver(
            "schedule-timer",
            timer.path,
            timer.text,
            after_change=reload + "\n" + scripts.systemd_user(systemctl, "restart", timer_unit),
            always=scripts.systemd_user(systemctl, "enable", "--now", timer_unit),
            before_remove=scripts.systemd_user(systemctl, "disable", "--now", timer_unit),
            after_remove=reload,
        )
