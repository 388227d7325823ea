"""CnpgRoles: CloudNativePG managed roles and the basic-auth Secrets CNPG reads their passwords from.

Three modes (``pg-dr:cluster.mode``):

* ``cluster`` - pg-dr owns the CNPG ``Cluster``; roles live in ``spec.managed.roles``. That list is
  atomic (not map-keyed), so this stack owns *all* managed roles of the cluster.
* ``rolesPatch`` - another tool (ArgoCD) owns the Cluster; pg-dr owns only ``spec.managed.roles``, with a
  server-side apply patch (``ClusterPatch``) under the fixed field manager ``pg-dr``. Works with any CNPG
  version that has managed roles. The other tool must not write that field (docs/brownfield.md).
* ``databaseRole`` - one CNPG 1.30 ``DatabaseRole`` per role against an existing cluster.

Every Kubernetes object goes through one explicit ``kubernetes.Provider`` (a child, so its settings are
in the graph and in ``pg-dr diff``): the context (``pg-dr:cluster.context``, else ``kubernetes:context``),
``enableSecretMutable`` (a password rotation updates the Secret in place instead of deleting and
re-creating it), server-side apply (patches need it) and ``upsertExistingObjects`` only when
``pg-dr:cluster.upsertExisting`` says so. Objects that already exist are imported (``adopt``: the
``import`` option with id ``<namespace>/<name>``); without that, creating one fails with AlreadyExists.
The Cluster waits for CNPG's ``Ready`` condition, each DatabaseRole for ``status.applied`` (it has no
Ready condition).

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
FIELD_MANAGER = "pg-dr"
ADOPT_IGNORES = ("metadata.labels", "metadata.annotations")
WAIT_FOR = "pulumi.com/waitFor"
CLUSTER_READY = {WAIT_FOR: "condition=Ready"}
# DatabaseRole has no Ready condition (only PasswordSecretChange); status.applied is its "reconciled".
DATABASE_ROLE_APPLIED = {WAIT_FOR: "jsonpath={.status.applied}=true"}
ROLES_PATCH = {
    "pulumi.com/patchFieldManager": FIELD_MANAGER,
    # take spec.managed.roles over from its previous manager (ArgoCD, once its manifest drops the field)
    "pulumi.com/patchForce": "true",
    **CLUSTER_READY,
}


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
    """The CNPG Cluster (or its roles patch, or DatabaseRoles) with its managed roles and their password Secrets."""

    k8s_provider: k8s.Provider
    namespace: k8s.core.v1.Namespace | None
    role_secrets: dict[str, k8s.core.v1.Secret]
    cluster: k8s.apiextensions.CustomResource | None
    roles_patch: k8s.apiextensions.CustomResourcePatch | None
    database_roles: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: CnpgRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:CnpgRoles", name, None, opts)
        cfg = args.cluster
        self._cluster_cfg = cfg
        self.k8s_provider = self._make_provider(name, cfg)
        self.namespace = None
        if cfg.create_namespace:
            self.namespace = k8s.core.v1.Namespace(
                cfg.namespace,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=cfg.namespace, labels=MANAGED_BY),
                # never deleted: a namespace takes everything in it along (the Cluster too)
                opts=self._k8s_opts(retain_on_delete=True),
            )
        self.role_secrets = {}
        for role in cfg.roles:
            if role.password is not None and role.ensure == "present":
                self.role_secrets[role.name] = self._password_secret(cfg, role, args.secrets)

        self.cluster = None
        self.roles_patch = None
        self.database_roles = {}
        if cfg.mode == "cluster":
            self.cluster = self._cluster(cfg)
        elif cfg.mode == "rolesPatch":
            self.roles_patch = self._roles_patch(cfg)
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
        if names:
            found += [r for r in (self.cluster, self.roles_patch) if r is not None]
        return found

    @staticmethod
    def _provider_settings(cfg: ClusterConfig) -> dict[str, Any]:
        k8s_config = pulumi.Config("kubernetes")
        settings: dict[str, Any] = {
            "context": cfg.context or k8s_config.get("context"),
            "kubeconfig": k8s_config.get_secret("kubeconfig"),  # may hold credentials: always a secret
            "enable_secret_mutable": True,  # rotation updates the Secret in place (never delete-before-replace)
            "enable_server_side_apply": True,  # the default, spelled out: rolesPatch needs it
            "upsert_existing_objects": cfg.upsert_existing,
        }
        return {k: v for k, v in settings.items() if v is not None}

    def _make_provider(self, name: str, cfg: ClusterConfig) -> k8s.Provider:
        return k8s.Provider(f"{name}-k8s", **self._provider_settings(cfg), opts=pulumi.ResourceOptions(parent=self))

    def _k8s_opts(
        self, adoptable: tuple[str, str] | None = None, depends_on: Iterable[pulumi.Resource] = (), **kwargs: Any
    ) -> pulumi.ResourceOptions:
        """Every Kubernetes object: a child of this component, on its provider, after the namespace;
        imported (``<namespace>/<name>``) when ``adopt`` names it."""
        cfg = self._cluster_cfg
        adopted = adoptable is not None and cfg.adopts(*adoptable)
        return pulumi.ResourceOptions(
            parent=self,
            provider=self.k8s_provider,
            depends_on=[*([self.namespace] if self.namespace is not None else []), *depends_on],
            import_=f"{cfg.namespace}/{adoptable[1]}" if adoptable is not None and adopted else None,
            # An import fails unless the declared object equals the live one. The live objects were made by
            # hand (kubectl apply: its annotation, none of pg-dr's labels), so the adopting `up` leaves
            # labels and annotations as they are; the next `up` (adopt removed) sets pg-dr's.
            ignore_changes=list(ADOPT_IGNORES) if adopted else None,
            **kwargs,
        )

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
            opts=self._k8s_opts(("Secret", name)),
        )

    def _secret_name_of(self, role: RoleConfig) -> pulumi.Output[str] | None:
        secret = self.role_secrets.get(role.name)
        return secret.metadata.name if secret is not None else None

    def _managed_roles(self, cfg: ClusterConfig) -> dict[str, Any]:
        return {"roles": [role_spec(role, self._secret_name_of(role)) for role in cfg.roles]}

    def _cluster(self, cfg: ClusterConfig) -> k8s.apiextensions.CustomResource:
        storage: dict[str, Any] = {"size": cfg.storage.size}
        if cfg.storage.storage_class:
            storage["storageClass"] = cfg.storage.storage_class
        spec: dict[str, Any] = {"instances": cfg.instances, "storage": storage}
        if cfg.image_name:
            spec["imageName"] = cfg.image_name
        if cfg.bootstrap is not None:
            spec["bootstrap"] = {"initdb": {"database": cfg.bootstrap.database, "owner": cfg.bootstrap.owner}}
        spec["managed"] = self._managed_roles(cfg)
        return k8s.apiextensions.CustomResource(
            cfg.name,
            api_version=API_VERSION,
            kind="Cluster",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cfg.name, namespace=cfg.namespace, labels=MANAGED_BY, annotations=CLUSTER_READY
            ),
            spec=spec,
            opts=self._k8s_opts(
                ("Cluster", cfg.name), depends_on=self.role_secrets.values(), protect=cfg.protect, retain_on_delete=True
            ),
        )

    def _roles_patch(self, cfg: ClusterConfig) -> k8s.apiextensions.CustomResourcePatch:
        """Only ``spec.managed.roles`` of a Cluster another tool owns; kept on delete (never relinquished:
        the roles would fall back to "no manager" and be dropped from the spec)."""
        return k8s.apiextensions.CustomResourcePatch(
            cfg.name,
            api_version=API_VERSION,
            kind="Cluster",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=cfg.name, namespace=cfg.namespace, annotations=ROLES_PATCH),
            spec={"managed": self._managed_roles(cfg)},
            opts=self._k8s_opts(depends_on=self.role_secrets.values(), retain_on_delete=True),
        )

    def _database_role(self, cfg: ClusterConfig, role: RoleConfig) -> k8s.apiextensions.CustomResource:
        name = cfg.database_role_name(role)
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
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=cfg.namespace, labels=MANAGED_BY, annotations=DATABASE_ROLE_APPLIED
            ),
            spec=spec,
            opts=self._k8s_opts(
                ("DatabaseRole", name), depends_on=[secret] if secret is not None else [], retain_on_delete=True
            ),
        )
