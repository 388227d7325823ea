"""The stack graph: which components exist and how they link.

``build_stack`` is the whole program below the thin ``__main__.py``: it takes the validated config and
the batch-resolved secrets and instantiates the components, wiring the dependencies the design names
(the borgmatic verification after the tailnet policy, the role Secrets and the Cluster).
"""

from __future__ import annotations

from typing import Any

from components.cnpg import CnpgRoles, CnpgRolesArgs
from components.config import StackConfig
from components.secrets import ResolvedSecrets


def build_stack(cfg: StackConfig, secrets: ResolvedSecrets) -> dict[str, Any]:
    """Register every component of the stack; return the stack outputs."""
    outputs: dict[str, Any] = {}

    roles: CnpgRoles | None = None
    if cfg.cluster is not None:
        roles = CnpgRoles("cnpg", CnpgRolesArgs(cluster=cfg.cluster, secrets=secrets))
        outputs["cluster"] = {"name": cfg.cluster.name, "namespace": cfg.cluster.namespace, "mode": cfg.cluster.mode}
        outputs["roleSecrets"] = {role: s.metadata.name for role, s in roles.role_secrets.items()}

    return outputs
