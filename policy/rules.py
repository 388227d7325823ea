"""pg-dr's CrossGuard rules: the runbook's lessons, enforced before anything applies.

Each rule is a ``ResourceValidationPolicy`` (one resource at a time) or a ``StackValidationPolicy``
(across resources), mandatory by default and tunable per stack with a policy-pack config file
(``pulumi preview --policy-pack policy --policy-pack-config policy/config.dev.json``). ``POLICIES`` is
the whole pack; ``policy/__main__.py`` serves it, the tests import it.

What a policy pack can see (pulumi-policy 1.21.0, the analyzer protocol): resource inputs (``Analyze``)
or outputs (``AnalyzeStack``), secret values unwrapped by the SDK (:mod:`policy.secret_marks` keeps
them recognisable), and the options ``protect``, ``ignoreChanges``, ``deleteBeforeReplace``,
``aliases``, ``customTimeouts``, ``additionalSecretOutputs`` and ``parent``. ``retainOnDelete`` is not
sent to policy packs at all, which shapes ``cnpg-cluster-protected``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.secret_marks import contains_secret
from policy.tailnet_checks import TAILNET_POLICIES

PACK_NAME = "pg-dr"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
DATABASE_ROLE = "kubernetes:postgresql.cnpg.io/v1:DatabaseRole"
# pg-dr:cluster.mode rolesPatch: a server-side apply patch of the Cluster's spec.managed.roles
CLUSTER_PATCH = "kubernetes:postgresql.cnpg.io/v1:ClusterPatch"
ROLE_CARRIERS = (CLUSTER, CLUSTER_PATCH, DATABASE_ROLE)
SECRET = "kubernetes:core/v1:Secret"
COMMAND = "command:remote:Command"

COMMAND_LINES = ("create", "update", "delete")
PRIVILEGES = ("superuser", "createdb", "createrole", "replication", "bypassrls")
EXPLICIT_DEFAULTS = ("connectionLimit", "ensure", "inherit")
RELOAD_LABEL = "cnpg.io/reload"
DEFAULT_BACKUP_ROLES = ["borgmatic"]
DEFAULT_READ_ONLY_GRANTS = ["pg_read_all_data", "pg_monitor"]


# ------------------------------------------------------------------------------------------ helpers
def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else []


def string_list(schema_description: str, default: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "default": default, "description": schema_description}


def cnpg_roles(resource_type: str, props: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The role entries of a CNPG Cluster or ClusterPatch (``spec.managed.roles``) or DatabaseRole (its ``spec``)."""
    spec = as_map(props.get("spec"))
    if resource_type in (CLUSTER, CLUSTER_PATCH):
        yield from (as_map(r) for r in as_list(as_map(spec.get("managed")).get("roles")))
    elif resource_type == DATABASE_ROLE:
        yield spec


def stack_backup_usernames() -> set[str]:
    """Usernames of the stack's ``pg-dr:backup.databases`` served by the cluster (``cluster: true``).

    The CLI hands policy packs the stack config (``PULUMI_CONFIG``), so the pack knows which roles the
    stack uses for backups even when ``backupRoles`` was not updated. Empty without that config.
    """
    raw: Any = pulumi.runtime.get_config("pg-dr:backup")
    try:
        backup = json.loads(raw) if isinstance(raw, str) else raw  # structured config travels as JSON text
    except json.JSONDecodeError:
        return set()
    return {
        str(db["username"])
        for db in as_list(as_map(backup).get("databases"))
        if isinstance(db, Mapping) and db.get("cluster") is True and isinstance(db.get("username"), str)
    }


# --------------------------------------------------------------------------------- CNPG: read-only
def validate_backup_roles_read_only(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in ROLE_CARRIERS:
        return
    config = args.get_config()
    backup_roles = set(config.get("backupRoles", DEFAULT_BACKUP_ROLES)) | stack_backup_usernames()
    allowed = set(config.get("allowedInRoles", DEFAULT_READ_ONLY_GRANTS))
    for role in cnpg_roles(args.resource_type, args.props):
        name = role.get("name")
        if name not in backup_roles or role.get("ensure") == "absent":
            continue
        granted = [p for p in PRIVILEGES if role.get(p) is True]
        if granted:
            report_violation(f"backup role {name!r} has {', '.join(granted)}; a backup role must only read", None)
        extra = sorted(str(r) for r in as_list(role.get("inRoles")) if r not in allowed)
        if extra:
            report_violation(
                f"backup role {name!r} is in {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}", None
            )


backup_roles_read_only = ResourceValidationPolicy(
    name="cnpg-backup-role-read-only",
    description=(
        "CNPG roles used for backups are read-only: no superuser, createdb, createrole, replication or "
        "bypassrls, and inRoles only within the allowed read-only roles."
    ),
    validate=validate_backup_roles_read_only,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "backupRoles": string_list(
                "roles used for backups (the stack's pg-dr:backup.databases usernames with cluster: true are added)",
                DEFAULT_BACKUP_ROLES,
            ),
            "allowedInRoles": string_list("roles a backup role may be a member of", DEFAULT_READ_ONLY_GRANTS),
        }
    ),
    remediation_steps="Drop the privilege from the role in pg-dr:cluster.roles; grant pg_read_all_data instead.",
)


# --------------------------------------------------------------------------- CNPG: explicit defaults
def validate_explicit_defaults(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in ROLE_CARRIERS:
        return
    for role in cnpg_roles(args.resource_type, args.props):
        missing = [key for key in EXPLICIT_DEFAULTS if role.get(key) is None]
        if missing:
            report_violation(
                f"role {role.get('name')!r} leaves {', '.join(missing)} to CNPG's API server defaults "
                "(GitOps drift on every sync)",
                None,
            )


explicit_defaults = ResourceValidationPolicy(
    name="cnpg-role-explicit-defaults",
    description="Every CNPG managed role spells out connectionLimit, ensure and inherit (no GitOps drift).",
    validate=validate_explicit_defaults,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Set connectionLimit: -1, ensure: present, inherit: true (CNPG's defaults) on the role.",
)


# ------------------------------------------------------------------------------ CNPG: role Secrets
def secret_username(props: Mapping[str, Any]) -> str | None:
    """The basic-auth username of a Secret: ``stringData`` (inputs) or base64 ``data`` (live outputs)."""
    plain = as_map(props.get("stringData")).get("username")
    if isinstance(plain, str):
        return plain
    encoded = as_map(props.get("data")).get("username")
    if isinstance(encoded, str):
        try:
            return base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def validate_role_password_secrets(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    secrets: dict[tuple[str, str], Any] = {}
    for r in args.resources:
        if r.resource_type == SECRET:
            metadata = as_map(r.props.get("metadata"))
            if isinstance(metadata.get("name"), str):
                secrets[(str(metadata.get("namespace") or "default"), metadata["name"])] = r
    for r in args.resources:
        if r.resource_type not in ROLE_CARRIERS:
            continue
        namespace = str(as_map(r.props.get("metadata")).get("namespace") or "default")
        for role in cnpg_roles(r.resource_type, r.props):
            secret_name = as_map(role.get("passwordSecret")).get("name")
            if not isinstance(secret_name, str):
                continue
            name = role.get("name")
            secret = secrets.get((namespace, secret_name))
            if secret is None:
                report_violation(
                    f"role {name!r} names Secret {namespace}/{secret_name}, which this stack does not manage", r.urn
                )
                continue
            problems = []
            if secret.props.get("type") != "kubernetes.io/basic-auth":
                problems.append(f"type is {secret.props.get('type')!r}, not 'kubernetes.io/basic-auth'")
            username = secret_username(secret.props)
            if username != name:
                problems.append(f"username is {username!r}, not the role name {name!r} (CNPG rejects it)")
            if RELOAD_LABEL not in as_map(as_map(secret.props.get("metadata")).get("labels")):
                problems.append(f"no {RELOAD_LABEL} label (CNPG would not re-read a rotated password)")
            for problem in problems:
                report_violation(f"Secret {namespace}/{secret_name} of role {name!r}: {problem}", secret.urn)


role_password_secrets = StackValidationPolicy(
    name="cnpg-role-password-secret",
    description=(
        "Every Secret a CNPG role's passwordSecret names is managed by the stack, of type "
        "kubernetes.io/basic-auth, with username equal to the role and the cnpg.io/reload label."
    ),
    validate=validate_role_password_secrets,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Declare the role's password in pg-dr:cluster.roles: pg-dr creates the Secret CNPG expects.",
)


# ------------------------------------------------------------------------------ CNPG: protection
def validate_cluster_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != CLUSTER or args.opts.protect:
        return
    name = as_map(args.props.get("metadata")).get("name") or args.name
    if name in args.get_config().get("unprotectedClusters", []):
        return
    report_violation(
        f"Cluster {name!r} is not protected. Policy packs cannot see retainOnDelete, so an unprotected "
        "Cluster passes only when named in this policy's unprotectedClusters config",
        None,
    )


cluster_protected = ResourceValidationPolicy(
    name="cnpg-cluster-protected",
    description=(
        "The CNPG Cluster is protected or retained on delete. The analyzer protocol carries protect but not "
        "retainOnDelete, so the pack requires protect unless the Cluster is listed in unprotectedClusters "
        "(for stacks whose Cluster is retained on delete by pg-dr, which the unit tests prove)."
    ),
    validate=validate_cluster_protected,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "unprotectedClusters": string_list(
                "Cluster names allowed without protect (pg-dr still sets retainOnDelete on them)", []
            )
        }
    ),
    remediation_steps="Keep pg-dr:cluster.protect: true, or list a throwaway Cluster in unprotectedClusters.",
)


# -------------------------------------------------------------------------------- remote commands
def validate_host_key_pinned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != COMMAND:
        return
    connection = as_map(args.props.get("connection"))
    host_key = connection.get("hostKey")
    if isinstance(host_key, str) and host_key.strip():
        return
    host = connection.get("host")
    if host in args.get_config().get("unpinnedHosts", []):
        return
    report_violation(
        f"SSH to {host!r} checks no host key (pulumi-command ignores host keys unless connection.hostKey is set)",
        None,
    )


host_key_pinned = ResourceValidationPolicy(
    name="remote-command-host-key-pinned",
    description="Every remote command pins the SSH host key of its host (connection.hostKey).",
    validate=validate_host_key_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={"unpinnedHosts": string_list("hosts allowed without a pinned key (dev: localhost)", [])}
    ),
    remediation_steps="Set pg-dr:backup.hostKey to the output of ssh-keyscan -t ed25519 <host>.",
)


def secret_channels(args: ResourceValidationArgs) -> list[str]:
    """The inputs on which a remote command receives a secret.

    A secret input (marked by the engine, see :mod:`policy.secret_marks`), or ``stdin``/``environment``
    the program declared secret with ``additionalSecretOutputs``. The SSH ``connection`` is not counted:
    pulumi-command keeps it secret and never hands it to the command's process.
    """
    declared = set(args.opts.additional_secret_outputs or [])
    return [
        key
        for key in ("stdin", "environment", *COMMAND_LINES)
        if contains_secret(args.props.get(key)) or (key in declared and args.props.get(key))
    ]


def validate_secret_commands_log_nothing(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != COMMAND:
        return
    channels = secret_channels(args)
    logging = args.props.get("logging") or "stdoutAndStderr"
    if channels and logging != "none":
        report_violation(
            f"receives a secret on {' and '.join(channels)} but logs {logging} "
            "(its output may echo the secret into the Pulumi log)",
            None,
        )
    for key in (c for c in channels if c in COMMAND_LINES):
        report_violation(
            f"a secret is interpolated into {key}: pulumi-command prints a failing command line; pass it on stdin",
            None,
        )


secret_commands_log_nothing = ResourceValidationPolicy(
    name="remote-command-secret-no-logging",
    description=(
        "Every remote command that receives a secret (a secret stdin, environment or command line) logs "
        "nothing (logging: none), and no secret is interpolated into a command line."
    ),
    validate=validate_secret_commands_log_nothing,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Pass the secret on stdin and create the command with logging=remote.Logging.NONE.",
)


POLICIES = [
    backup_roles_read_only,
    explicit_defaults,
    role_password_secrets,
    cluster_protected,
    host_key_pinned,
    secret_commands_log_nothing,
    *TAILNET_POLICIES,
]
