"""BorgmaticHost: borgmatic on the backup host, configured over SSH (runbook steps 1, 2, 7 and 8).

Children (all ``command:remote:Command``, one SSH session each, ``/bin/sh -c`` scripts from
:mod:`components.remote.scripts`, file contents on stdin):

``<name>-preflight``  every configured binary is an executable on the host (a missing one fails ``up``
                      naming the path and its config key); versions become the ``versions`` output.
``<name>-config``     the borgmatic config (``configPath``, 0600).
``<name>-pgpass``     the ``# BEGIN pg-dr`` block of ``~/.pgpass`` (0600), the user's lines kept; its
                      stdin is secret and it logs nothing.
``<name>-schedule*``  the LaunchAgent plist (bootstrapped) or the systemd user service + timer (enabled).
``<name>-verify``     ``borgmatic config validate``, ``borgmatic create``, then every repository's latest
                      archive must hold every database's dump; after the tailnet grant and the CNPG
                      role Secrets/Cluster (``verify_after``) and every delivery.

Delivery commands carry ``triggers = [path, sha256(content)]``: an unchanged config runs nothing; a
changed one replaces the command (the new content is written, the old file kept as
``.pg-dr-previous``; the old resource's delete then sees a newer version and leaves it). Removing a
command from the stack moves its file aside, it never deletes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from components.borgmatic import plan as files
from components.borgmatic.config import BackupConfig
from components.remote import scripts as scripts
from components.secrets.resolver import ResolvedSecrets


@dataclass(frozen=True)
class BorgmaticHostArgs:
    backup: BackupConfig
    secrets: ResolvedSecrets
    # What the verification needs first: the tailnet grant (Acl), the role Secrets and the Cluster.
    verify_after: Sequence[pulumi.Resource] = field(default_factory=list)


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class BorgmaticHost(pulumi.ComponentResource):
    """borgmatic on one backup host: preflight, config, ``~/.pgpass``, schedule, verification."""

    preflight: remote.Command
    deliveries: list[remote.Command]
    verify: remote.Command | None

    def __init__(self, name: str, args: BorgmaticHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:BorgmaticHost", name, None, opts)
        cfg = args.backup
        self._name = name
        self._connection = self._connect(cfg, args.secrets)

        config_text = files.borgmatic_config(cfg)
        schedule_texts = [f.text for f in files.schedule_files(cfg)]
        # re-checked whenever the config or schedule changes, before they are delivered
        self.preflight = self._command(
            "preflight",
            scripts.preflight(files.required_binaries(cfg)),
            depends_on=[],
            triggers=[_digest(config_text), *(_digest(t) for t in schedule_texts)],
        )
        config_cmd = self._deliver("config", cfg.resolved_config_path, config_text)
        self.deliveries = [config_cmd]

        pgpass_digest: pulumi.Output[str] | None = None
        entries = files.pgpass_entries(cfg)
        if entries:
            passwords = [args.secrets.get(e.database.password) for e in entries if e.database.password is not None]
            block = pulumi.Output.secret(
                pulumi.Output.all(*passwords).apply(lambda pw: files.pgpass_block(entries, pw))
            )
            pgpass_digest = pulumi.Output.secret(block.apply(_digest))
            self.deliveries.append(self._pgpass(cfg.resolved_pgpass_path, block, pgpass_digest))

        self._schedule(cfg)

        self.verify = None
        if cfg.verify:
            dumps = files.expected_dumps(cfg)
            directories = [db.format == "directory" for db in cfg.databases]
            script = scripts.verify(
                cfg.borgmatic_path,
                cfg.resolved_config_path,
                cfg.home_dir,
                [r.label for r in cfg.repositories],
                list(zip(dumps, directories, strict=True)),
                files.pgpass_env(cfg),
            )
            triggers: list[Any] = [_digest(config_text), *(_digest(t) for t in schedule_texts)]
            if pgpass_digest is not None:
                triggers.append(pgpass_digest)
            self.verify = self._command(
                "verify",
                script,
                depends_on=[self.preflight, *self.deliveries, *args.verify_after],
                triggers=triggers,
            )

        self.versions = self.preflight.stdout.apply(scripts.parse_versions)
        self.dumps = self.verify.stdout.apply(scripts.parse_dumps) if self.verify else pulumi.Output.from_input([])
        self.render_files = dict(files.render_files(cfg))
        self.summary = {
            "host": cfg.host,
            "user": cfg.user,
            "configPath": cfg.resolved_config_path,
            "pgpassPath": cfg.resolved_pgpass_path,
            "schedule": cfg.schedule.kind,
            "databases": [db.key for db in cfg.databases],
            "versions": self.versions,
            "dumps": self.dumps,
        }
        if cfg.host_key is None:
            pulumi.log.warn(
                f"pg-dr:backup.insecureIgnoreHostKey is true: the host key of {cfg.host} is not checked "
                "(pin pg-dr:backup.hostKey outside dev)",
                self,
            )
        self.register_outputs({**self.summary, "renderFiles": self.render_files})

    # ------------------------------------------------------------------ building blocks
    @staticmethod
    def _connect(cfg: BackupConfig, secrets: ResolvedSecrets) -> remote.ConnectionArgs:
        return remote.ConnectionArgs(
            host=cfg.host,
            port=cfg.port,
            user=cfg.user,  # always explicit: the provider's default is root
            host_key=cfg.host_key,  # None only with insecureIgnoreHostKey (config refuses otherwise)
            private_key=secrets.get(cfg.private_key) if cfg.private_key is not None else None,
        )

    def _command(
        self,
        suffix: str,
        script: str,
        *,
        depends_on: Sequence[pulumi.Resource],
        delete: str | None = None,
        stdin: pulumi.Input[str] | None = None,
        triggers: Sequence[Any] | None = None,
        secret: bool = False,
    ) -> remote.Command:
        return remote.Command(
            f"{self._name}-{suffix}",
            connection=self._connection,
            create=scripts.sh_command(script),
            delete=scripts.sh_command(delete) if delete else None,
            stdin=stdin,
            triggers=list(triggers) if triggers is not None else None,
            add_previous_output_in_env=False,
            logging=remote.Logging.NONE if secret else remote.Logging.STDOUT_AND_STDERR,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(depends_on),
                additional_secret_outputs=["stdin"] if secret else None,
            ),
        )

    def _deliver(
        self,
        suffix: str,
        path: str,
        text: str,
        *,
        after_change: str = "",
        always: str = "",
        before_remove: str = "",
        after_remove: str = "",
    ) -> remote.Command:
        return self._command(
            suffix,
            scripts.deliver_file(path, "600", after_change=after_change, always=always),
            delete=scripts.remove_file(path, before_remove=before_remove, after_remove=after_remove),
            stdin=text,
            triggers=[path, _digest(text)],
            depends_on=[self.preflight, *getattr(self, "deliveries", [])],
        )

    def _pgpass(self, path: str, block: pulumi.Output[str], digest: pulumi.Output[str]) -> remote.Command:
        return self._command(
            "pgpass",
            scripts.deliver_pgpass(path),
            delete=scripts.remove_pgpass(path),
            stdin=block,
            triggers=[path, digest],
            depends_on=[self.preflight],
            secret=True,
        )

    def _schedule(self, cfg: BackupConfig) -> None:
        """Deliver and activate the schedule (launchd: one plist; systemd: service, then timer)."""
        sched = cfg.schedule
        schedule_files = files.schedule_files(cfg)
        if sched.kind == "launchd":
            (plist,) = schedule_files
            after_change, always = scripts.launchd_reload(sched.launchctl_path, sched.label, plist.path)
            self.deliveries.append(
                self._deliver(
                    "schedule",
                    plist.path,
                    plist.text,
                    after_change=after_change,
                    always=always,
                    before_remove=scripts.launchd_unload(sched.launchctl_path, sched.label),
                )
            )
        elif sched.kind == "systemd":
            service, timer = schedule_files
            reload = scripts.systemd_user(sched.systemctl_path, "daemon-reload")
            timer_unit = f"{sched.label}.timer"
            self.deliveries.append(
                self._deliver("schedule-service", service.path, service.text, after_change=reload, after_remove=reload)
            )
            self.deliveries.append(
                self._deliver(
                    "schedule-timer",
                    timer.path,
                    timer.text,
                    after_change=reload + "\n" + scripts.systemd_user(sched.systemctl_path, "restart", timer_unit),
                    always=scripts.systemd_user(sched.systemctl_path, "enable", "--now", timer_unit),
                    before_remove=scripts.systemd_user(sched.systemctl_path, "disable", "--now", timer_unit),
                    after_remove=reload,
                )
            )
