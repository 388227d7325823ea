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
An import reads the live object and applies every difference in the same ``up`` (Pulumi >= 3.174), so
pg-dr first reads each adopted object itself and refuses one that adopting would change
(:mod:`components.cnpg.live`); ``rolesPatch`` and ``databaseRole`` read the Cluster they act on (it must
exist; in ``databaseRole`` mode none of the roles may still be inline in it).
The Cluster waits for CNPG's ``Ready`` condition, each DatabaseRole for ``status.applied`` (it has no
Ready condition). CNPG's Ready condition carries no observedGeneration: after a change to a Cluster that
was already Ready it holds at once, so it proves the Cluster healthy, not the roles applied (the backup's
login wait proves those; docs/brownfield.md).

Each role spells out the API server's defaults (``connectionLimit: -1``, ``ensure: present``,
``inherit: true``) so nothing drifts. Each role with a password gets a ``kubernetes.io/basic-auth``
Secret whose ``username`` is the role name (CNPG rejects anything else), labelled
``cnpg.io/reload: "true"`` so CNPG re-reads it on rotation. The Cluster is always
``retain_on_delete`` and ``protect``-ed unless ``pg-dr:cluster.protect`` is false: no destroy may drop
a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cnpg.config import ClusterConfig, RoleConfig
from components.cnpg.live import (
    LiveObject,
    LiveStateError,
    gate,
    inline_roles,
    read_object,
    secret_differences,
    spec_differences,
)
from components.secrets.resolver import ResolvedSecrets

API_VERSION = "postgresql.cnpg.io/v1"
RELOAD_LABEL = "cnpg.io/reload"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pg-dr"}
FIELD_MANAGER = "pg-dr"
SECRET_TYPE = "kubernetes.io/basic-auth"
CLUSTER_TYPE = f"kubernetes:{API_VERSION}:Cluster"
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
            checked = self._live_cluster(cfg).spec.apply(lambda spec: self._refuse_inline_roles(cfg, spec))
            self.database_roles = {role.name: self._database_role(cfg, role, checked) for role in cfg.roles}

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
        imported (``<namespace>/<name>``) when ``adopt`` names it. The import reads the live object and
        applies the differences in the same ``up`` (labels, the waitFor annotation): the program has
        checked beforehand (:meth:`_adoption_check`) that nothing else would change."""
        cfg = self._cluster_cfg
        adopted = adoptable is not None and cfg.adopts(*adoptable)
        return pulumi.ResourceOptions(
            parent=self,
            provider=self.k8s_provider,
            depends_on=[*([self.namespace] if self.namespace is not None else []), *depends_on],
            import_=f"{cfg.namespace}/{adoptable[1]}" if adoptable is not None and adopted else None,
            **kwargs,
        )

    def _read(self, type_: str, name: str) -> LiveObject:
        """A read of ``<namespace>/<name>`` (at preview too): a child, on this component's provider."""
        cfg = self._cluster_cfg
        kind = type_.rsplit(":", 1)[-1]
        return LiveObject(
            f"{name}-live-{kind.lower()}",
            type_,
            f"{cfg.namespace}/{name}",
            pulumi.ResourceOptions(parent=self, provider=self.k8s_provider),
        )

    def _live_cluster(self, cfg: ClusterConfig) -> LiveObject:
        """The Cluster this stack patches or adds DatabaseRoles to: a missing one fails at preview, with
        the engine's "resource '<namespace>/<name>' does not exist"."""
        return self._read(CLUSTER_TYPE, cfg.name)

    def _adoption_check(
        self, kind: str, name: str, differences: Callable[..., list[str]], *wanted: pulumi.Input[Any]
    ) -> pulumi.Output[Any]:
        """Read an adopted object; raise :class:`LiveStateError` when adopting it would change more than
        pg-dr's labels and annotations (``differences(live, *wanted) -> problems``)."""
        type_ = "kubernetes:core/v1:Secret" if kind == "Secret" else CLUSTER_TYPE
        live = self._read(type_, name)
        at = f"{self._cluster_cfg.namespace}/{name}"

        def check(args: list[Any]) -> None:
            state, *values = args
            if not read_object(state):
                return
            problems = differences(state, *values)
            if problems:
                raise LiveStateError(
                    f"pg-dr:cluster.adopt: {kind} {at} differs from what pg-dr would apply (an import applies "
                    "every difference in the same up)",
                    problems,
                    "Make the live object and the stack config agree first; pg-dr never overwrites an adopted "
                    "object. If an earlier up already adopted it, remove it from pg-dr:cluster.adopt "
                    "(docs/brownfield.md).",
                )

        state = pulumi.Output.all(metadata=live.metadata, spec=live.spec, data=live.data, type=live.type)
        return pulumi.Output.all(state, *wanted).apply(check)

    def _refuse_inline_roles(self, cfg: ClusterConfig, spec: Any) -> None:
        inline = inline_roles(spec, [role.name for role in cfg.roles])
        if inline:
            raise LiveStateError(
                f"pg-dr:cluster.mode: databaseRole: Cluster {cfg.namespace}/{cfg.name} still manages "
                f"{', '.join(inline)} inline (spec.managed.roles)",
                [f"role {name!r}: CNPG would set its DatabaseRole applied=false ('database role is already "
                 "managed by the CNPG cluster') and the up would wait for it in vain" for name in inline],
                "Remove these roles from the Cluster's spec.managed.roles first (in the manifest of the tool that "
                "owns the Cluster), or keep mode: rolesPatch.",
            )  # fmt: skip

    def _warn_roles_drift(self, cfg: ClusterConfig, spec: Any, declared: Any) -> None:
        """Read-back: the roles of the live Cluster against pg-dr's (another tool may have changed them)."""
        live_roles = ((spec or {}).get("managed") or {}).get("roles") if spec is not None else None
        if spec is not None and live_roles != declared:
            pulumi.log.warn(
                f"Cluster {cfg.namespace}/{cfg.name}: spec.managed.roles is not pg-dr's list (the first apply, or "
                "another tool changed it since): this up applies pg-dr's roles",
                resource=self,
            )

    def _password_secret(self, cfg: ClusterConfig, role: RoleConfig, secrets: ResolvedSecrets) -> k8s.core.v1.Secret:
        assert role.password is not None
        name = cfg.secret_name(role)
        password = secrets.get(role.password)
        metadata_name: pulumi.Input[str] = name
        if cfg.adopts("Secret", name):
            checked = self._adoption_check(
                "Secret",
                name,
                lambda live, value: secret_differences(live, SECRET_TYPE, {"username": role.name, "password": value}),
                password,
            )
            metadata_name = gate(name, checked)
        return k8s.core.v1.Secret(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata_name,
                namespace=cfg.namespace,
                labels={RELOAD_LABEL: "true", **MANAGED_BY},
            ),
            type=SECRET_TYPE,
            string_data={"username": role.name, "password": password},
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
        metadata_name: pulumi.Input[str] = cfg.name
        if cfg.adopts("Cluster", cfg.name):
            declared = dict(spec)  # what the import would apply, outside managed.roles (pg-dr's by design)
            checked = self._adoption_check(
                "Cluster", cfg.name, lambda live: spec_differences(live.get("spec"), declared, "managed.roles")
            )
            metadata_name = gate(cfg.name, checked)
        spec["managed"] = self._managed_roles(cfg)
        return k8s.apiextensions.CustomResource(
            cfg.name,
            api_version=API_VERSION,
            kind="Cluster",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata_name, namespace=cfg.namespace, labels=MANAGED_BY, annotations=CLUSTER_READY
            ),
            spec=spec,
            opts=self._k8s_opts(
                ("Cluster", cfg.name), depends_on=self.role_secrets.values(), protect=cfg.protect, retain_on_delete=True
            ),
        )

    def _roles_patch(self, cfg: ClusterConfig) -> k8s.apiextensions.CustomResourcePatch:
        """Only ``spec.managed.roles`` of a Cluster another tool owns; kept on delete (never relinquished:
        the roles would fall back to "no manager" and be dropped from the spec).

        pulumi-kubernetes never previews a patch, and at ``up`` a patch of a missing object *creates* it:
        the Cluster is read first (a missing one fails at preview, naming ``<namespace>/<name>``), and the
        patch waits for that read. The read also compares the live roles with pg-dr's (a warning when
        another tool changed them; ``refresh: always`` in Pulumi.yaml makes the up re-apply them)."""
        managed = self._managed_roles(cfg)
        live = self._live_cluster(cfg)
        # the patch waits for the read only (known at preview); the drift warning also needs the Secrets'
        # names, which a preview may not know yet, so it gates nothing
        checked = live.spec.apply(lambda _: None)
        pulumi.Output.all(live.spec, managed["roles"]).apply(lambda args: self._warn_roles_drift(cfg, *args))
        return k8s.apiextensions.CustomResourcePatch(
            cfg.name,
            api_version=API_VERSION,
            kind="Cluster",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=gate(cfg.name, checked), namespace=cfg.namespace, annotations=ROLES_PATCH
            ),
            spec={"managed": managed},
            opts=self._k8s_opts(depends_on=self.role_secrets.values(), retain_on_delete=True),
        )

    def _database_role(
        self, cfg: ClusterConfig, role: RoleConfig, checked: pulumi.Output[Any]
    ) -> k8s.apiextensions.CustomResource:
        """One DatabaseRole, registered once the Cluster was read and holds none of the roles inline."""
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
                name=gate(name, checked), namespace=cfg.namespace, labels=MANAGED_BY, annotations=DATABASE_ROLE_APPLIED
            ),
            spec=spec,
            opts=self._k8s_opts(
                ("DatabaseRole", name), depends_on=[secret] if secret is not None else [], retain_on_delete=True
            ),
        )
