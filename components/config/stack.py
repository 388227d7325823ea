"""The whole stack's configuration: every ``pg-dr:*`` section, cross-checked, loaded as the CLI passes it.

Every section of the stack file is validated before any resource registers. A bad stack file fails with
one :class:`~components.config.base.ConfigError` that lists every problem by its key path, e.g.::

    pg-dr:cluster.roles[1].connectionLimit: must be >= -1

Each section's model lives with its component (``components/<component>/config.py``); this module holds
the whole-stack model, the checks that span sections, and the loader. What the loader takes, as the CLI
passes it (``PULUMI_CONFIG``: every value a string, a section the JSON of its object):

* types are strict (``components.config.base.Model``); text fields also take the integers
  ``pulumi config set --path`` writes;
* an empty section (``{}``, Pulumi.yaml's default) is an absent one, and a stack with no section at all is
  refused (it would manage the tailnet policy from defaults alone);
* every key is read by someone: ``pg-dr:<section>``, a ``config:`` reference's target, a provider setting
  of kubernetes/tailscale/command, or ``pulumi:*``; anything else is an error naming the nearest known key;
* a section the CLI marks secret may hold decrypted secure values in its secret fields
  (``components.secrets.refs``).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pulumi
import pulumi.runtime
from pydantic import BaseModel, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator

from components.borgmatic.config import BackupConfig
from components.cnpg.config import READ_ONLY_GRANT_ROLES, ClusterConfig, role_list_problems
from components.config.base import NAMESPACE, SECTIONS, ConfigError, Model, _NestedProblems, suggest
from components.drill.config import DrillConfig
from components.keypath import key_path
from components.secrets.config import SecretsConfig
from components.secrets.refs import SECURE_VALUES_ALLOWED, SecretRef
from components.tailnet.config import TailnetConfig


# ----------------------------------------------------------------------------------------------- stack
class StackConfig(Model):
    secrets: SecretsConfig = SecretsConfig()
    tailnet: TailnetConfig = TailnetConfig()
    cluster: ClusterConfig | None = None
    backup: BackupConfig | None = None
    drill: DrillConfig = DrillConfig()

    @field_validator(*SECTIONS, mode="wrap")
    @classmethod
    def _secure_values_in_secret_sections(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: Any) -> Any:
        """A section the CLI marks secret may hold decrypted secure values (components.secrets.refs)."""
        secret = info.field_name in ((info.context or {}).get("secret_sections") or ())
        token = SECURE_VALUES_ALLOWED.set(secret)
        try:
            return handler(value)
        finally:
            SECURE_VALUES_ALLOWED.reset(token)

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        problems: list[tuple[str, str]] = []
        problems += self._check_cluster_databases()
        problems += self._check_secret_providers()
        problems += self.drill.cross_check(self.backup)
        if problems:
            raise _NestedProblems(problems)
        return self

    def _check_cluster_databases(self) -> list[tuple[str, str]]:
        """A database served by the CNPG cluster must use a managed, read-only login role, same password."""
        problems: list[tuple[str, str]] = []
        if self.backup is None:
            return problems
        for i, db in enumerate(self.backup.databases):
            if not db.cluster:
                continue
            at = f"backup.databases[{i}]"
            role = self.cluster.role(db.username) if self.cluster else None
            if self.cluster is None:
                problems.append((f"{at}.cluster", "true, but pg-dr:cluster is not configured"))
            elif role is None:
                problems.append((f"{at}.username", f"{db.username!r} is not a managed role in pg-dr:cluster.roles"))
            else:
                if not role.login or role.ensure != "present":
                    problems.append((f"{at}.username", f"role {role.name!r} must have login: true and ensure: present"))
                if not (role.superuser or set(role.in_roles) & READ_ONLY_GRANT_ROLES):
                    problems.append(
                        (f"{at}.username", f"role {role.name!r} has no read access (inRoles: [pg_read_all_data])")
                    )
                if db.password != role.password:
                    problems.append(
                        (
                            f"{at}.password",
                            f"must equal the password reference of role {role.name!r} in pg-dr:cluster.roles",
                        )
                    )
        return problems

    def _check_secret_providers(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for path, ref in self.secret_refs():
            if ref.scheme == "op" and self.secrets.provider != "onepassword":
                problems.append(
                    (path, f"{ref} needs 1Password, but pg-dr:secrets.provider is {self.secrets.provider!r}")
                )
        return problems

    def secret_refs(self) -> list[tuple[str, SecretRef]]:
        """Every secret reference the stack uses, with its key path (section-relative)."""
        found: list[tuple[str, SecretRef]] = []

        def walk(value: Any, path: str) -> None:
            if isinstance(value, SecretRef):
                found.append((path, value))
            elif isinstance(value, BaseModel):
                for name, field in type(value).model_fields.items():
                    walk(getattr(value, name), f"{path}.{field.alias or name}" if path else (field.alias or name))
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    walk(item, f"{path}[{i}]")

        walk(self, "")
        return found


# ------------------------------------------------------------------------------------------- loading
_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda c: "required",
    "extra_forbidden": lambda c: "unknown key",
    "greater_than_equal": lambda c: f"must be >= {c['ge']}",
    "less_than_equal": lambda c: f"must be <= {c['le']}",
    "greater_than": lambda c: f"must be > {c['gt']}",
    "too_short": lambda c: f"needs at least {c['min_length']} item(s)",
    "string_too_short": lambda c: f"needs at least {c['min_length']} character(s)",
    "literal_error": lambda c: f"must be one of {c['expected']}",
    "bool_parsing": lambda c: "must be true or false",
    "bool_type": lambda c: "must be true or false",
    "int_parsing": lambda c: "must be an integer",
    "int_type": lambda c: "must be an integer",
    "int_from_float": lambda c: "must be an integer",
    "string_type": lambda c: "must be a string",
    "list_type": lambda c: "must be a list",
    "model_type": lambda c: "must be a mapping",
    "model_attributes_type": lambda c: "must be a mapping",
    "dict_type": lambda c: "must be a mapping",
}


# Type errors of the strict models say what was given instead (never the value: it may be a misplaced secret).
_STRICT_TYPES = frozenset({"bool_type", "int_type", "string_type"})


def _kind(value: Any, expected: str) -> str:
    if isinstance(value, str):
        if (expected == "int_type" and value.strip().lstrip("+-").isdigit()) or (
            expected == "bool_type" and value in ("true", "false")
        ):
            return "a string: write it without quotes"
        if expected == "bool_type" and value.lower() in ("yes", "no", "on", "off", "y", "n", "true", "false"):
            return "a string: YAML 1.2, as Pulumi reads it, has only true and false"
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return "null" if value is None else type(value).__name__


def _format_loc(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a key path, without pydantic's own parts (``function-...``, ``[...]``)."""
    return key_path(p for p in loc if isinstance(p, int) or not ("[" in str(p) or str(p).startswith("function-")))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (through ``X | None``, ``Annotated`` and list items), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``loc`` (a key path below the stack) accepts, as written in stack files."""
    model: type[BaseModel] | None = StackConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue  # a list index: the item's model is the field's
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        field = fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "nullable["))))
        base = _format_loc(loc)
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _NestedProblems):
            for sub, message in cause.problems:
                path = f"{base}.{sub}" if base and not sub.startswith("[") else f"{base}{sub}"
                problems.append((f"{NAMESPACE}:{path}", message))
            continue
        make = _MESSAGES.get(err["type"])
        if err["type"] == "extra_forbidden":
            known = _known_keys(loc[:-1])
            message = f"unknown key{suggest(str(loc[-1]), known)}" if known else "unknown key"
        elif make is not None:
            message = make(err.get("ctx") or {})
            if err["type"] in _STRICT_TYPES:
                message += f" (not {_kind(err.get('input'), err['type'])})"
        else:
            message = str(cause) if cause is not None else err["msg"]
        problems.append((f"{NAMESPACE}:{base}", message))
    return problems


def parse_stack_config(raw: Mapping[str, Any], secret_sections: Iterable[str] = ()) -> StackConfig:
    """Validate the ``pg-dr`` sections (already parsed from JSON) into a :class:`StackConfig`.

    ``secret_sections``: the sections whose keys the CLI marks secret (they hold decrypted secure values).
    """
    unknown = [k for k in raw if k not in SECTIONS]
    problems = [(f"{NAMESPACE}:{k}", f"unknown key{suggest(k, SECTIONS)}") for k in unknown]
    problems += role_list_problems(raw.get("cluster"))
    try:
        cfg = StackConfig.model_validate(
            {k: v for k, v in raw.items() if k in SECTIONS}, context={"secret_sections": frozenset(secret_sections)}
        )
    except ValidationError as exc:
        raise ConfigError(problems + _problems_from(exc)) from None
    if problems:
        raise ConfigError(problems)
    return cfg


# An empty stack would still register the default tailnet grant with `manage: true`, replacing the tailnet's
# policy: a stack must say what it manages.
NO_CONFIG = (
    "the stack configures no pg-dr section, so it would manage the tailnet policy from defaults alone; configure "
    "the stack's sections (pg-dr:tailnet, pg-dr:cluster, pg-dr:backup, ...) under config: in its stack file"
)


# Every namespace the stack reads: its own and its providers' (their settings as the installed SDKs list
# them; tests/unit/config/test_namespaces.py keeps these lists equal to the SDKs'). `pulumi:` keys belong to
# the engine (tags, template, ...) and are not checked.
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "kubernetes": (
        "alwaysRender", "cluster", "clusterIdentifier", "context", "deleteUnreachable", "enableConfigMapMutable",
        "enablePatchForce", "enableSecretMutable", "enableServerSideApply", "helmReleaseSettings",
        "kubeClientSettings", "kubeconfig", "namespace", "renderYamlToDirectory", "skipUpdateUnreachable",
        "suppressDeprecationWarnings", "suppressHelmHookWarnings", "upsertExistingObjects",
    ),
    "tailscale": (
        "apiKey", "audience", "baseUrl", "identityToken", "identityTokenEnvironmentVariableName", "oauthClientId",
        "oauthClientSecret", "scopes", "tailnet", "userAgent",
    ),
    "command": (),
}  # fmt: skip
ENGINE_NAMESPACE = "pulumi"
NAMESPACES = (NAMESPACE, *PROVIDER_KEYS, ENGINE_NAMESPACE)


def _config_keys() -> set[str]:
    """Every fully qualified config key of the running stack (the CLI passes them in PULUMI_CONFIG)."""
    from pulumi.runtime.config import CONFIG, get_config_env

    return set(CONFIG.get()) | set(get_config_env())


def namespace_problems(keys: set[str]) -> list[tuple[str, str]]:
    """Keys outside pg-dr's namespace that nothing reads: a misspelled namespace or provider setting."""
    problems: list[tuple[str, str]] = []
    for key in sorted(keys):
        namespace, _, name = key.partition(":")
        if namespace in (NAMESPACE, ENGINE_NAMESPACE):
            continue
        if namespace in PROVIDER_KEYS:
            known = PROVIDER_KEYS[namespace]
            if name not in known:
                hint = suggest(name, known) if known else " (the provider takes no stack config)"
                problems.append((key, f"unknown {namespace} provider setting{hint}"))
        else:
            problems.append((key, f"unknown namespace {namespace!r}{suggest(namespace, NAMESPACES)}"))
    return problems


def _config_ref_targets(value: Any) -> set[str]:
    """Fully qualified keys named by ``config:KEY`` references anywhere in raw config (they are not unknown)."""
    if isinstance(value, str) and value.startswith("config:"):
        key = value[len("config:") :]
        return {key if ":" in key else f"{NAMESPACE}:{key}"}
    if isinstance(value, Mapping):
        return set().union(*(_config_ref_targets(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_config_ref_targets(v) for v in value)) if value else set()
    return set()


def load_stack_config(config: pulumi.Config | None = None) -> StackConfig:
    """Read every ``pg-dr:*`` key from the running stack's config and validate it.

    An empty section (``{}``, the default Pulumi.yaml declares for every section) is the same as an absent one:
    for ``cluster`` and ``backup`` that means not managed, for the others their defaults.
    """
    config = config or pulumi.Config(NAMESPACE)
    keys = _config_keys()
    prefix = f"{NAMESPACE}:"
    raw: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for section in SECTIONS:
        value = config.get(section)
        if value is None:
            continue
        try:
            raw[section] = json.loads(value)
        except json.JSONDecodeError:
            problems.append((f"{NAMESPACE}:{section}", "must be a mapping (structured config), not a string"))
        else:
            if raw[section] == {}:
                del raw[section]
    if problems:
        raise ConfigError(problems)
    unread = keys - _config_ref_targets(raw)
    unknown = sorted(k for k in unread if k.startswith(prefix) and k[len(prefix) :] not in SECTIONS)
    if not raw and not unknown:
        raise ConfigError([(f"{NAMESPACE}:*", NO_CONFIG)])
    for key in unknown:
        raw[key[len(prefix) :]] = None  # reported as an unknown key by parse_stack_config
    problems = namespace_problems(unread)
    secret_sections = [s for s in raw if s in SECTIONS and pulumi.runtime.is_config_secret(f"{NAMESPACE}:{s}")]
    try:
        cfg = parse_stack_config(raw, secret_sections)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    if problems:
        raise ConfigError(problems)
    return cfg
