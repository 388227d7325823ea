"""``pg-dr:cluster``: the CloudNativePG cluster and its managed roles (see docs/configuration.md, ``pg-dr:cluster``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from components.config.base import (
    NAMESPACE,
    DateTime,
    DnsName,
    Model,
    PgIdent,
    Quantity,
    RoleName,
    Text,
    _NestedProblems,
)
from components.secrets.refs import SecretRef

# CNPG's webhook and DatabaseRole CEL rules reject these role names.
RESERVED_ROLE_NAMES = frozenset({"postgres", "streaming_replica"})
RESERVED_ROLE_PREFIXES = ("cnpg_", "pg_")
# Roles a read-only backup user may be a member of.
READ_ONLY_GRANT_ROLES = frozenset({"pg_read_all_data", "pg_monitor"})


# Sanity bounds: a volume below 1Mi holds no PostgreSQL data directory; above 1Pi is a typo on a homelab.
MIN_STORAGE_BYTES = 2**20
MAX_STORAGE_BYTES = 2**50
MAX_INSTANCES = 100
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}  # fmt: skip


def _storage_size(value: str) -> str:
    number = value.rstrip("kKMGTPEi")
    size = Decimal(number) * _UNITS[value[len(number) :]]
    if not MIN_STORAGE_BYTES <= size <= MAX_STORAGE_BYTES:
        raise ValueError(f"{value!r} is outside 1Mi..1Pi")
    return value


class StorageConfig(Model):
    size: Annotated[Quantity, AfterValidator(_storage_size)] = "10Gi"
    storage_class: Text | None = None


class BootstrapConfig(Model):
    database: PgIdent = "app"
    owner: RoleName = "app"


class RoleConfig(Model):
    """One CNPG managed role. Defaults are CNPG's, spelled out so the API server adds nothing."""

    name: RoleName
    ensure: Literal["present", "absent"] = "present"
    login: bool = False
    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    replication: bool = False
    bypassrls: bool = False
    inherit: bool = True
    connection_limit: int = Field(default=-1, ge=-1)
    in_roles: list[RoleName] = Field(default_factory=list)
    password: SecretRef | None = None
    disable_password: bool = False
    valid_until: DateTime | None = None
    comment: Text | None = None

    @model_validator(mode="after")
    def _password_xor_disabled(self) -> RoleConfig:
        if self.disable_password and self.password is not None:
            raise ValueError("disablePassword and password are mutually exclusive (CNPG rejects both)")
        return self

    @property
    def read_only(self) -> bool:
        """A role that may read everything and change nothing."""
        return (
            not (self.superuser or self.createdb or self.createrole or self.replication or self.bypassrls)
            and "pg_read_all_data" in self.in_roles
            and set(self.in_roles) <= READ_ONLY_GRANT_ROLES
        )


class ClusterConfig(Model):
    """``pg-dr:cluster``: the CloudNativePG cluster and its managed roles.

    Modes: ``cluster`` (pg-dr owns the whole Cluster), ``rolesPatch`` (another tool, e.g. ArgoCD, owns
    the Cluster; pg-dr owns only ``spec.managed.roles``, by a server-side apply patch under its own field
    manager), ``databaseRole`` (CNPG >= 1.30: one DatabaseRole per role). ``adopt`` imports objects that
    already exist (``true``: every object pg-dr manages; or a list of object names).
    """

    name: DnsName
    namespace: DnsName = "default"
    mode: Literal["cluster", "rolesPatch", "databaseRole"] = "cluster"
    context: Text | None = Field(default=None, min_length=1)
    create_namespace: bool = False
    adopt: bool | list[str] = False
    upsert_existing: bool = False
    instances: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    image_name: Text | None = None
    storage: StorageConfig = StorageConfig()
    bootstrap: BootstrapConfig | None = None
    roles: list[RoleConfig] = Field(default_factory=list)
    protect: bool = True

    def secret_name(self, role: RoleConfig) -> str:
        """The basic-auth Secret CNPG reads the role's password from (``<cluster>-<role>``)."""
        return f"{self.name}-{kubernetes_suffix(role.name)}"

    def role(self, name: str) -> RoleConfig | None:
        return next((r for r in self.roles if r.name == name), None)

    def database_role_name(self, role: RoleConfig) -> str:
        return f"{self.name}-{kubernetes_suffix(role.name)}"

    def object_names(self) -> list[str]:
        """``Kind/name`` of every object pg-dr creates (what ``adopt`` may list)."""
        names = [
            f"Secret/{self.secret_name(r)}" for r in self.roles if r.password is not None and r.ensure == "present"
        ]
        if self.mode == "cluster":
            names.append(f"Cluster/{self.name}")
        elif self.mode == "databaseRole":
            names += [f"DatabaseRole/{self.database_role_name(r)}" for r in self.roles]
        return names

    def adopts(self, kind: str, name: str) -> bool:
        """Whether the object exists already and is imported (``adopt``: true, or its ``Kind/name`` listed)."""
        return self.adopt is True or (isinstance(self.adopt, list) and f"{kind}/{name}" in self.adopt)

    @model_validator(mode="after")
    def _adopt_names_known(self) -> ClusterConfig:
        if isinstance(self.adopt, list):
            known = self.object_names()
            unknown = [n for n in self.adopt if n not in known]
            if unknown:
                raise _NestedProblems(
                    [("adopt", f"names {', '.join(unknown)}, which pg-dr does not manage in mode {self.mode} "
                      f"(it manages: {', '.join(known) or 'nothing'})")]
                )  # fmt: skip
        if self.create_namespace and self.adopt:
            raise _NestedProblems(
                [("createNamespace", "and adopt exclude each other: adopted objects live in an existing namespace")]
            )
        return self


def kubernetes_suffix(role_name: str) -> str:
    """The role's part of its Secret and DatabaseRole names (``<cluster>-<suffix>``): Kubernetes names are lowercase."""
    return role_name.replace("_", "-").lower()


def role_list_problems(raw_cluster: Any) -> list[tuple[str, str]]:
    """What CNPG's webhook rejects across the role list; runs on raw data so it reports alongside field errors."""
    if not isinstance(raw_cluster, Mapping) or not isinstance(raw_cluster.get("roles"), list):
        return []
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    suffixes: dict[str, int] = {}
    cluster = raw_cluster.get("name") if isinstance(raw_cluster.get("name"), str) else "<cluster>"
    at = f"{NAMESPACE}:cluster.roles"
    for i, role in enumerate(raw_cluster["roles"]):
        if not isinstance(role, Mapping) or not isinstance(role.get("name"), str):
            continue
        name = role["name"]
        if name in seen:
            problems.append((f"{at}[{i}].name", f"duplicate role {name!r} (also roles[{seen[name]}])"))
        first = suffixes.setdefault(kubernetes_suffix(name), i)
        if name not in seen and first != i:
            other = raw_cluster["roles"][first]["name"]
            problems.append(
                (f"{at}[{i}].name", f"{name!r} and {other!r} (roles[{first}]) both get the Kubernetes name "
                 f"{cluster}-{kubernetes_suffix(name)} (Secret, DatabaseRole): rename one")
            )  # fmt: skip
        seen.setdefault(name, i)
        if name in RESERVED_ROLE_NAMES or name.startswith(RESERVED_ROLE_PREFIXES):
            problems.append((f"{at}[{i}].name", f"{name!r} is reserved by PostgreSQL or CNPG"))
        if raw_cluster.get("mode") == "databaseRole" and role.get("ensure") == "absent":
            problems.append(
                (f"{at}[{i}].ensure", "absent is not supported in databaseRole mode; remove the role from the stack")
            )
    return problems
