"""The stack graph: which components exist and how they link.

``build_stack`` is the whole program below the thin ``__main__.py``: it takes the validated config and
the batch-resolved secrets and instantiates the components, wiring the dependencies the design names
(the borgmatic verification after the tailnet policy, the role Secrets and the Cluster).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.borgmatic.component import BorgmaticHost, BorgmaticHostArgs
from components.cnpg.component import CnpgRoles, CnpgRolesArgs
from components.config.stack import StackConfig
from components.drill.component import RestoreDrill, RestoreDrillArgs
from components.monitoring.component import ScheduledDrill, ScheduledDrillArgs
from components.restore.component import RestoreCommand, RestoreCommandArgs
from components.secrets.resolver import ResolvedSecrets
from components.tailnet.component import TailnetPolicy, TailnetPolicyArgs


def build_stack(cfg: StackConfig, secrets: ResolvedSecrets) -> dict[str, Any]:
    """Register every component of the stack; return the stack outputs."""
    outputs: dict[str, Any] = {}

    # First, so a broken tailnet policy stops the program before any resource registers. Always in the
    # graph, so every stack validates its policy; `manage` decides whether a tailscale.Acl sends it.
    # Anything that needs the grant (the borgmatic verification) depends on `tailnet.dependency`.
    databases = cfg.backup.databases if cfg.backup is not None else []
    tailnet = TailnetPolicy("tailnet", TailnetPolicyArgs(tailnet=cfg.tailnet, databases=databases))
    outputs["tailnet"] = tailnet.summary

    roles: CnpgRoles | None = None
    if cfg.cluster is not None:
        roles = CnpgRoles("cnpg", CnpgRolesArgs(cluster=cfg.cluster, secrets=secrets))
        outputs["cluster"] = {"name": cfg.cluster.name, "namespace": cfg.cluster.namespace, "mode": cfg.cluster.mode}
        outputs["roleSecrets"] = {role: s.metadata.name for role, s in roles.role_secrets.items()}

    if cfg.backup is not None:
        # The verification backs up every database: after the tailnet grant, the role Secrets and Cluster.
        verify_after: list[pulumi.Resource] = []
        if any(db.tailnet_tag for db in cfg.backup.databases):
            verify_after.append(tailnet.dependency)
        if roles is not None:
            verify_after += roles.serving(db.username for db in cfg.backup.databases if db.cluster)
        scheduled = cfg.drill.scheduled(cfg.backup) is not None
        backup = BorgmaticHost(
            "borgmatic",
            BorgmaticHostArgs(backup=cfg.backup, secrets=secrets, verify_after=verify_after, drill_scheduled=scheduled),
        )
        outputs["backup"] = backup.summary
        # pg-dr-restore: the disaster restore on the backup host, after its preflight and host check
        restore = RestoreCommand(
            "restore",
            RestoreCommandArgs(
                backup=cfg.backup, connection=backup.connection, run_after=[backup.preflight, backup.host_check]
            ),
        )
        outputs["restore"] = restore.summary

        if cfg.drill.enabled:
            # After the whole BorgmaticHost: the drill restores the archive its verification just made.
            drill = RestoreDrill(
                "drill",
                RestoreDrillArgs(
                    drill=cfg.drill,
                    backup=cfg.backup,
                    secrets=secrets,
                    connection=backup.connection,
                    run_after=[backup, restore],
                ),
            )
            outputs["drill"] = drill.summary
            if scheduled:
                # After the drill: it delivers pg-dr-drill, which the schedule runs.
                nightly = ScheduledDrill(
                    "drill-schedule",
                    ScheduledDrillArgs(
                        drill=cfg.drill,
                        backup=cfg.backup,
                        secrets=secrets,
                        connection=backup.connection,
                        run_after=[drill],
                    ),
                )
                outputs["drillSchedule"] = nightly.summary

    return outputs
