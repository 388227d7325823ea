"""CnpgRoles: CloudNativePG managed roles and the basic-auth Secrets CNPG reads their passwords from.

Two modes (``pg-dr:cluster.mode``):

* ``cluster`` - pg-dr owns the CNPG ``Cluster``; roles live in ``spec.managed.roles``. That list is
  atomic (not map-keyed), so this stack owns *all* managed roles of the cluster.
* ``databaseRole`` - one CNPG 1.30 ``DatabaseRole`` per role against an existing cluster.

Each role spells out the API server's defaults (``connectionLimit: -1``, ``ensure: present``,
``inherit: true``) so nothing drifts. Each role with a password gets a ``kubernetes.io/basic-auth``
Secret whose ``username`` is the role name (CNPG rejects anything else), labelled
``cnpg.io/reload: "true"`` so CNPG re-reads it on rotation. The Cluster is always
``retain_on_delete`` and ``protect``-ed unless ``pg-dr:cluster.protect`` is false: no destroy may drop
a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cnpg.config import ClusterConfig, RoleConfig
from components.secrets.resolver import ResolvedSecrets

API_VERSION = "postgresql.cnpg.io/v1"
RELOAD_LABEL = "cnpg.io/reload"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pg-dr"}


@dataclass(frozen=True)
class CnpgRolesArgs:
    cluster: ClusterConfig
    secrets: ResolvedSecrets


def role_spec(role: RoleConfig, password_secret: pulumi.Input[str] | None) -> dict[str, Any]:
    """The CNPG role entry: CNPG's defaults explicit, other attributes only when set."""
    spec: dict[str, Any] = {
        "name": role.name,
        "ensure": role.ensure,
        "login": role.login,
        "inherit": role.inherit,
        "connectionLimit": role.connection_limit,
    }
    for attribute in ("superuser", "createdb", "createrole", "replication", "bypassrls"):
        if getattr(role, attribute):
            spec[attribute] = True
    if role.in_roles:
        spec["inRoles"] = list(role.in_roles)
    if password_secret is not None:
        spec["passwordSecret"] = {"name": password_secret}
    if role.disable_password:
        spec["disablePassword"] = True
    if role.valid_until is not None:
        spec["validUntil"] = role.valid_until
    if role.comment is not None:
        spec["comment"] = role.comment
    return spec


class CnpgRoles(pulumi.ComponentResource):
    """The CNPG Cluster (or DatabaseRoles) with its managed roles and their password Secrets."""

    role_secrets: dict[str, k8s.core.v1.Secret]
    cluster: k8s.apiextensions.CustomResource | None
    database_roles: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: CnpgRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:CnpgRoles", name, None, opts)
        cfg = args.cluster
        self.role_secrets = {}
        for role in cfg.roles:
            if role.password is not None and role.ensure == "present":
                self.role_secrets[role.name] = self._password_secret(cfg, role, args.secrets)

        self.cluster = None
        self.database_roles = {}
        if cfg.mode == "cluster":
            self.cluster = self._cluster(cfg)
        else:
            self.database_roles = {role.name: self._database_role(cfg, role) for role in cfg.roles}

        self.register_outputs(
            {
                "clusterName": cfg.name,
                "namespace": cfg.namespace,
                "mode": cfg.mode,
                "roles": [role.name for role in cfg.roles],
                "roleSecrets": {role: secret.metadata.name for role, secret in self.role_secrets.items()},
            }
        )

    def serving(self, usernames: Iterable[str]) -> list[pulumi.Resource]:
        """What must exist before a client logs in as ``usernames``: their Secrets and roles, and the Cluster."""
        names = sorted(set(usernames))
        found: list[pulumi.Resource] = []
        for username in names:
            found += [r for r in (self.role_secrets.get(username), self.database_roles.get(username)) if r]
        if names and self.cluster is not None:
            found.append(self.cluster)
        return found

    def _password_secret(self, cfg: ClusterConfig, role: RoleConfig, secrets: ResolvedSecrets) -> k8s.core.v1.Secret:
        assert role.password is not None
        name = cfg.secret_name(role)
        return k8s.core.v1.Secret(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=cfg.namespace,
                labels={RELOAD_LABEL: "true", **MANAGED_BY},
            ),
            type="kubernetes.io/basic-auth",
            string_data={"username": role.name, "password": secrets.get(role.password)},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _secret_name_of(self, role: RoleConfig) -> pulumi.Output[str] | None:
        secret = self.role_secrets.get(role.name)
        return secret.metadata.name if secret is not None else None

    def _cluster(self, cfg: ClusterConfig) -> k8s.apiextensions.CustomResource:
        storage: dict[str, Any] = {"size": cfg.storage.size}
        if cfg.storage.storage_class:
            storage["storageClass"] = cfg.storage.storage_class
        spec: dict[str, Any] = {"instances": cfg.instances, "storage": storage}
        if cfg.image_name:
            spec["imageName"] = cfg.image_name
        if cfg.bootstrap is not None:
            spec["bootstrap"] = {"initdb": {"database": cfg.bootstrap.database, "owner": cfg.bootstrap.owner}}
        spec["managed"] = {"roles": [role_spec(role, self._secret_name_of(role)) for role in cfg.roles]}
        return k8s.apiextensions.CustomResource(
            cfg.name,
            api_version=API_VERSION,
            kind="Cluster",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=cfg.name, namespace=cfg.namespace, labels=MANAGED_BY),
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=cfg.protect,
                retain_on_delete=True,
                depends_on=list(self.role_secrets.values()),
            ),
        )

    def _database_role(self, cfg: ClusterConfig, role: RoleConfig) -> k8s.apiextensions.CustomResource:
        name = f"{cfg.name}-{role.name.replace('_', '-').lower()}"
        spec = {
            "cluster": {"name": cfg.name},
            **role_spec(role, self._secret_name_of(role)),
            "databaseRoleReclaimPolicy": "retain",
        }
        secret = self.role_secrets.get(role.name)
        return k8s.apiextensions.CustomResource(
            name,
            api_version=API_VERSION,
            kind="DatabaseRole",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=cfg.namespace, labels=MANAGED_BY),
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, depends_on=[secret] if secret is not None else []
            ),
        )
