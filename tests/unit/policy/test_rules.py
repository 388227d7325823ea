"""Each rule of the policy pack, called through its ``validate`` with constructed resource args.

Every rule gets at least one compliant resource (no violation) and one violating resource per way it
can be broken (a violation naming the problem). Props go through pulumi-policy's unknown-checking
proxy, as the SDK hands them to rules.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pulumi.runtime
import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from offline.engine import SECRET_SIG, SPECIAL_SIG_KEY
from policy import rules, secret_marks, tailnet_checks
from policy.rules import CLUSTER, COMMAND, DATABASE_ROLE, SECRET
from policy.secret_marks import SecretStr, contains_secret
from policy.tailnet_checks import ACL

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINJ6UDHRBHumFvnfaVpYIpZBPrVUZooLX0YgpcN4m8mt"


def _opts(protect: bool = False, secret_outputs: list[str] | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs or [])


def violations(
    policy: Any,
    type_: str,
    props: dict[str, Any],
    *,
    protect: bool = False,
    config: dict | None = None,
    secret_outputs: list[str] | None = None,
) -> list[str]:
    found: list[str] = []
    opts = _opts(protect, secret_outputs)
    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(copy.deepcopy(props)), f"urn:{type_}::r", "r", opts, None, config
    )
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def stack_violations(resources: list[tuple[str, dict[str, Any]]], config: dict | None = None) -> list[str]:
    found: list[str] = []
    stack = [
        PolicyResource(
            t, unknown_checking_proxy(copy.deepcopy(p)), f"urn:{t}::{i}", str(i), _opts(), None, None, [], {}
        )
        for i, (t, p) in enumerate(resources)
    ]
    rules.role_password_secrets.validate(
        StackValidationArgs(stack, config), lambda message, urn=None: found.append(f"{urn}: {message}")
    )
    return found


def role(**attrs: Any) -> dict[str, Any]:
    base = {"name": "borgmatic", "login": True, "ensure": "present", "inherit": True, "connectionLimit": -1}
    base["inRoles"] = ["pg_read_all_data"]
    return {**base, **attrs}


def cluster(*roles: dict[str, Any], name: str = "blumeops-pg") -> dict[str, Any]:
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": "databases"},
        "spec": {"instances": 1, "managed": {"roles": list(roles)}},
    }


def database_role(spec_role: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "blumeops-pg-borgmatic", "namespace": "databases"},
        "spec": {"cluster": {"name": "blumeops-pg"}, **spec_role, "databaseRoleReclaimPolicy": "retain"},
    }


# ------------------------------------------------------------------------------ cnpg-backup-role-read-only
def test_read_only_backup_role_passes_in_cluster_and_database_role() -> None:
    policy = rules.backup_roles_read_only
    assert violations(policy, CLUSTER, cluster(role())) == []
    assert violations(policy, CLUSTER, cluster(role(inRoles=["pg_read_all_data", "pg_monitor"]))) == []
    assert violations(policy, DATABASE_ROLE, database_role(role())) == []
    # Other roles may be privileged: the rule is about backup roles.
    assert violations(policy, CLUSTER, cluster(role(), role(name="eblume", superuser=True, inRoles=[]))) == []


@pytest.mark.parametrize("privilege", rules.PRIVILEGES)
def test_privileged_backup_role_is_a_violation(privilege: str) -> None:
    for type_, props in ((CLUSTER, cluster(role(**{privilege: True}))), (DATABASE_ROLE, database_role(role()))):
        if type_ == DATABASE_ROLE:
            props["spec"][privilege] = True
        found = violations(rules.backup_roles_read_only, type_, props)
        assert found == [f"backup role 'borgmatic' has {privilege}; a backup role must only read"]


def test_backup_role_in_a_writing_role_is_a_violation() -> None:
    found = violations(rules.backup_roles_read_only, CLUSTER, cluster(role(inRoles=["pg_read_all_data", "app"])))
    assert found == ["backup role 'borgmatic' is in app; allowed: pg_monitor, pg_read_all_data"]


def test_backup_roles_and_allowed_grants_are_configurable() -> None:
    policy = rules.backup_roles_read_only
    reader = role(name="reader", createdb=True)
    assert violations(policy, CLUSTER, cluster(reader)) == []
    assert violations(policy, CLUSTER, cluster(reader), config={"backupRoles": ["reader"]}) == [
        "backup role 'reader' has createdb; a backup role must only read"
    ]
    monitor_only = {"backupRoles": ["borgmatic"], "allowedInRoles": ["pg_monitor"]}
    assert violations(policy, CLUSTER, cluster(role()), config=monitor_only) == [
        "backup role 'borgmatic' is in pg_read_all_data; allowed: pg_monitor"
    ]


def test_stack_backup_databases_make_their_users_backup_roles() -> None:
    """A pg-dr:backup database served by the cluster marks its username as a backup role (stack config)."""
    backup = '{"databases": [{"name": "miniflux", "username": "eblume", "cluster": true}]}'
    superuser = cluster(role(name="eblume", superuser=True, inRoles=[]))
    assert violations(rules.backup_roles_read_only, CLUSTER, superuser) == []
    pulumi.runtime.set_all_config({"pg-dr:backup": backup}, [])
    try:
        found = violations(rules.backup_roles_read_only, CLUSTER, superuser)
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert found == ["backup role 'eblume' has superuser; a backup role must only read"]


def test_absent_backup_role_is_not_checked() -> None:
    assert violations(rules.backup_roles_read_only, CLUSTER, cluster(role(ensure="absent", superuser=True))) == []


# ----------------------------------------------------------------------------- cnpg-role-explicit-defaults
def test_roles_spelling_out_defaults_pass() -> None:
    assert violations(rules.explicit_defaults, CLUSTER, cluster(role(), role(name="eblume"))) == []
    assert violations(rules.explicit_defaults, DATABASE_ROLE, database_role(role())) == []


@pytest.mark.parametrize("key", rules.EXPLICIT_DEFAULTS)
def test_role_leaving_a_default_to_cnpg_is_a_violation(key: str) -> None:
    drifting = role()
    del drifting[key]
    for type_, props in ((CLUSTER, cluster(role(name="eblume"), drifting)), (DATABASE_ROLE, database_role(drifting))):
        assert violations(rules.explicit_defaults, type_, props) == [
            f"role 'borgmatic' leaves {key} to CNPG's API server defaults (GitOps drift on every sync)"
        ]


# ------------------------------------------------------------------------------ cnpg-role-password-secret
def secret(name: str = "blumeops-pg-borgmatic", username: str = "borgmatic", **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/basic-auth",
        "metadata": {"name": name, "namespace": "databases", "labels": {"cnpg.io/reload": "true"}},
        "stringData": {"username": username, "password": "s3cret"},
    }
    props.update(overrides)
    return props


def with_secret(r: dict[str, Any], name: str = "blumeops-pg-borgmatic") -> dict[str, Any]:
    return {**r, "passwordSecret": {"name": name}}


def test_role_secrets_of_the_right_shape_pass() -> None:
    assert stack_violations([(SECRET, secret()), (CLUSTER, cluster(with_secret(role())))]) == []
    assert stack_violations([(SECRET, secret()), (DATABASE_ROLE, database_role(with_secret(role())))]) == []
    # The live Secret (AnalyzeStack sees outputs) carries base64 data instead of stringData.
    live = secret(stringData=None, data={"username": base64.b64encode(b"borgmatic").decode(), "password": "eA=="})
    assert stack_violations([(SECRET, live), (CLUSTER, cluster(with_secret(role())))]) == []
    # A role without a password Secret has nothing to check.
    assert stack_violations([(CLUSTER, cluster(role(disablePassword=True)))]) == []


@pytest.mark.parametrize(
    ("bad_secret", "problem"),
    [
        (secret(type="Opaque"), "type is 'Opaque', not 'kubernetes.io/basic-auth'"),
        (secret(username="backup"), "username is 'backup', not the role name 'borgmatic' (CNPG rejects it)"),
        (
            secret(metadata={"name": "blumeops-pg-borgmatic", "namespace": "databases", "labels": {}}),
            "no cnpg.io/reload label (CNPG would not re-read a rotated password)",
        ),
    ],
    ids=["type", "username", "reload-label"],
)
def test_role_secret_of_the_wrong_shape_is_a_violation(bad_secret: dict[str, Any], problem: str) -> None:
    found = stack_violations([(SECRET, bad_secret), (CLUSTER, cluster(with_secret(role())))])
    assert found == [f"urn:{SECRET}::0: Secret databases/blumeops-pg-borgmatic of role 'borgmatic': {problem}"]


def test_role_naming_a_secret_the_stack_does_not_manage_is_a_violation() -> None:
    other_namespace = secret(metadata={"name": "blumeops-pg-borgmatic", "namespace": "default", "labels": {}})
    found = stack_violations([(SECRET, other_namespace), (CLUSTER, cluster(with_secret(role())))])
    assert found == [
        f"urn:{CLUSTER}::1: role 'borgmatic' names Secret databases/blumeops-pg-borgmatic, "
        "which this stack does not manage"
    ]


# ---------------------------------------------------------------------------------- cnpg-cluster-protected
def test_protected_cluster_passes() -> None:
    assert violations(rules.cluster_protected, CLUSTER, cluster(role()), protect=True) == []


def test_unprotected_cluster_is_a_violation_unless_listed() -> None:
    found = violations(rules.cluster_protected, CLUSTER, cluster(role()))
    assert len(found) == 1 and found[0].startswith("Cluster 'blumeops-pg' is not protected.")
    assert "cannot see retainOnDelete" in found[0]
    listed = {"unprotectedClusters": ["dev-pg"]}
    assert violations(rules.cluster_protected, CLUSTER, cluster(role(), name="dev-pg"), config=listed) == []
    assert len(violations(rules.cluster_protected, CLUSTER, cluster(role()), config=listed)) == 1


def test_protection_rule_ignores_other_resources() -> None:
    assert violations(rules.cluster_protected, DATABASE_ROLE, database_role(role())) == []
    assert violations(rules.cluster_protected, SECRET, secret()) == []


# ------------------------------------------------------------------------- remote-command-host-key-pinned
def command(host: str = "indri.tail8d86e.ts.net", host_key: str | None = HOST_KEY, **inputs: Any) -> dict[str, Any]:
    connection: dict[str, Any] = {"host": host, "user": "erichblume", "port": 22, "privateKey": "-----BEGIN"}
    if host_key is not None:
        connection["hostKey"] = host_key
    return {"connection": connection, "create": "true", **inputs}


def test_command_with_pinned_host_key_passes() -> None:
    assert violations(rules.host_key_pinned, COMMAND, command()) == []


@pytest.mark.parametrize("host_key", [None, "", "  "], ids=["absent", "empty", "blank"])
def test_command_without_host_key_is_a_violation(host_key: str | None) -> None:
    assert violations(rules.host_key_pinned, COMMAND, command(host_key=host_key)) == [
        "SSH to 'indri.tail8d86e.ts.net' checks no host key "
        "(pulumi-command ignores host keys unless connection.hostKey is set)"
    ]


def test_unpinned_hosts_are_configurable() -> None:
    local = {"unpinnedHosts": ["localhost"]}
    assert violations(rules.host_key_pinned, COMMAND, command(host="localhost", host_key=None), config=local) == []
    assert len(violations(rules.host_key_pinned, COMMAND, command(host_key=None), config=local)) == 1


# ----------------------------------------------------------------------- remote-command-secret-no-logging
SECRET_TEXT = SecretStr("*:*:*:borgmatic:hunter2")  # what the analyzer hands a rule for a secret input


def test_commands_fed_secrets_that_log_nothing_pass() -> None:
    policy = rules.secret_commands_log_nothing
    assert violations(policy, COMMAND, command(stdin=SECRET_TEXT, logging="none")) == []
    assert violations(policy, COMMAND, command(environment={"PGPASSWORD": SECRET_TEXT}, logging="none")) == []
    # The SSH connection is secret too (pulumi-command wraps it), but it is not handed to the command.
    secret_connection = command()
    secret_connection["connection"] = {k: SecretStr(v) for k, v in command()["connection"].items() if k != "port"}
    assert violations(policy, COMMAND, secret_connection) == []


def test_commands_fed_plain_data_may_log() -> None:
    policy = rules.secret_commands_log_nothing
    assert violations(policy, COMMAND, command()) == []
    assert violations(policy, COMMAND, command(stdin="location:\n  repositories: []\n")) == []
    assert violations(policy, COMMAND, command(environment={"LANG": "C"}, logging="stdout")) == []


@pytest.mark.parametrize(
    ("inputs", "secret_outputs", "problem"),
    [
        ({"stdin": SECRET_TEXT}, None, "receives a secret on stdin but logs stdoutAndStderr"),
        ({"stdin": SECRET_TEXT, "logging": "stdout"}, None, "receives a secret on stdin but logs stdout"),
        (
            {"environment": {"PGPASSWORD": SECRET_TEXT}, "logging": "stderr"},
            None,
            "receives a secret on environment but logs stderr",
        ),
        # Declared secret by the program, even where the value reached the pack unmarked.
        ({"stdin": "plain-looking"}, ["stdin"], "receives a secret on stdin but logs stdoutAndStderr"),
    ],
    ids=["default-logging", "stdout", "environment", "additional-secret-outputs"],
)
def test_command_fed_a_secret_that_logs_is_a_violation(
    inputs: dict[str, Any], secret_outputs: list[str] | None, problem: str
) -> None:
    found = violations(rules.secret_commands_log_nothing, COMMAND, command(**inputs), secret_outputs=secret_outputs)
    assert found == [f"{problem} (its output may echo the secret into the Pulumi log)"]


def test_secret_on_the_command_line_is_a_violation_even_without_logging() -> None:
    found = violations(
        rules.secret_commands_log_nothing, COMMAND, command(create=SecretStr("PGPASSWORD=x psql"), logging="none")
    )
    assert found == [
        "a secret is interpolated into create: pulumi-command prints a failing command line; pass it on stdin"
    ]


def test_secret_marks_survive_the_analyzer_deserializer() -> None:
    """What the analyzer does to wire properties: envelopes become SecretStr, plain strings stay str."""
    import pulumi_policy.policy as sdk

    secret_marks.install()
    wire = {
        "stdin": {SPECIAL_SIG_KEY: SECRET_SIG, "value": "pw"},
        "create": "cat",
        "connection": {SPECIAL_SIG_KEY: SECRET_SIG, "value": {"host": "h", "port": 22}},
    }
    props = unknown_checking_proxy(sdk.deserialize_properties(wire))
    assert isinstance(props["stdin"], SecretStr) and props["stdin"] == "pw"
    assert not isinstance(props["create"], SecretStr)
    assert isinstance(props["connection"]["host"], SecretStr) and props["connection"]["port"] == 22
    assert contains_secret(props["connection"]) and not contains_secret(props["create"])


# ------------------------------------------------------------------------------------------ tailnet rules
POLICY_TEXT = """// base policy
{
\t"tagOwners": {"tag:homelab": ["autogroup:admin"], "tag:k8s": ["autogroup:admin"]},
\t"grants": [
\t\t// admins reach everything
\t\t{"src": ["autogroup:admin"], "dst": ["*"], "ip": ["*"]},
\t\t{"src": ["tag:homelab"], "dst": ["tag:k8s"], "ip": ["tcp:5432"]},
\t\t{"src": ["tag:k8s"], "dst": ["tag:homelab"], "ip": ["tcp:9000-9100"]},
\t\t{"src": ["group:family"], "dst": ["tag:k8s"], "ip": ["tcp:443"]},
\t\t{"src": ["tag:homelab"], "dst": ["tag:k8s"], "app": {"example.com/cap/x": [{}]}},
\t],
\t"tests": [
\t\t{"src": "tag:homelab", "accept": ["tag:k8s:5432"]},
\t\t{"src": "tag:k8s", "accept": ["tag:homelab:9100"], "deny": ["tag:homelab:22"]},
\t],
}
"""


def acl(text: str) -> dict[str, Any]:
    return {"acl": text, "overwriteExistingContent": False}


def test_policy_without_wildcards_and_with_tested_tag_grants_passes() -> None:
    assert violations(tailnet_checks.no_wildcard_grants, ACL, acl(POLICY_TEXT)) == []
    assert violations(tailnet_checks.tag_grants_tested, ACL, acl(POLICY_TEXT)) == []


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ('{"src": ["group:admins"], "dst": ["*"], "ip": ["*"]}', "grants[5] lets group:admins"),
        ('{"src": ["autogroup:admin", "tag:ci"], "dst": ["*"], "ip": ["tcp:*"]}', "grants[5] lets tag:ci"),
    ],
    ids=["group", "mixed-sources-proto-wildcard"],
)
def test_wildcard_grant_for_anyone_but_admins_is_a_violation(rule: str, where: str) -> None:
    text = POLICY_TEXT.replace('\t],\n\t"tests"', f'\t\t{rule},\n\t],\n\t"tests"')
    assert violations(tailnet_checks.no_wildcard_grants, ACL, acl(text)) == [
        f"{where} reach '*' on every port (only autogroup:admin may)"
    ]


def test_legacy_wildcard_acl_is_a_violation_and_sources_are_configurable() -> None:
    text = '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}'
    assert violations(tailnet_checks.no_wildcard_grants, ACL, acl(text)) == [
        "acls[0] lets * reach '*' on every port (only autogroup:admin may)"
    ]
    text = '{"grants": [{"src": ["group:admins"], "dst": ["*"], "ip": ["*"]}]}'
    assert (
        violations(tailnet_checks.no_wildcard_grants, ACL, acl(text), config={"wildcardSources": ["group:admins"]})
        == []
    )
    # A wildcard destination on one port, or every port of one destination, is not "* on *".
    one_port = '{"src": ["tag:a"], "dst": ["*"], "ip": ["tcp:443"]}'
    one_host = '{"src": ["tag:a"], "dst": ["tag:b"], "ip": ["*"]}'
    text = f'{{"grants": [{one_port}, {one_host}]}}'
    assert violations(tailnet_checks.no_wildcard_grants, ACL, acl(text)) == []


@pytest.mark.parametrize(
    ("tests", "untested"),
    [
        ('{"src": "tag:k8s", "accept": ["tag:homelab:9100"]}', "tag:homelab"),  # no test from the tag
        (
            '{"src": "tag:homelab", "accept": ["tag:k8s:5433"]}, {"src": "tag:k8s", "accept": ["tag:homelab:9100"]}',
            "tag:homelab",
        ),  # wrong port
        (
            '{"src": "tag:homelab", "accept": ["tag:nas:5432"]}, {"src": "tag:k8s", "accept": ["tag:homelab:9100"]}',
            "tag:homelab",
        ),  # wrong host
        (
            '{"src": "tag:homelab", "deny": ["tag:k8s:5432"]}, {"src": "tag:k8s", "accept": ["tag:homelab:9100"]}',
            "tag:homelab",
        ),  # deny only
        (
            '{"src": "tag:homelab", "accept": ["tag:k8s:5432"]}, {"src": "tag:k8s", "accept": ["tag:homelab:9101"]}',
            "tag:k8s",
        ),  # out of range
    ],
    ids=["no-test", "wrong-port", "wrong-host", "deny-only", "out-of-range"],
)
def test_tag_grant_without_an_accepting_test_is_a_violation(tests: str, untested: str) -> None:
    start = POLICY_TEXT.index('\t"tests": [')
    text = POLICY_TEXT[:start] + f'\t"tests": [{tests}],\n}}\n'
    where = "grants[1]" if untested == "tag:homelab" else "grants[2]"
    assert violations(tailnet_checks.tag_grants_tested, ACL, acl(text)) == [
        f"{where} from {untested} has no policy test accepting it "
        f'(add {{"src": "{untested}", "accept": ["<dst>:<port>"]}} to tests)'
    ]


def test_unparsable_policy_is_a_violation_of_both_tailnet_rules() -> None:
    for policy in tailnet_checks.TAILNET_POLICIES:
        found = violations(policy, ACL, acl('{"grants": [}'))
        assert len(found) == 1 and found[0].startswith("the tailnet policy does not parse: <hujson>:1:")


def test_wildcard_detection_uses_the_tailnet_ip_syntax() -> None:
    assert tailnet_checks.all_ports("*") and tailnet_checks.all_ports("tcp:*")
    assert not tailnet_checks.all_ports("tcp:5432") and not tailnet_checks.all_ports("tcp:1-1024")
    assert not tailnet_checks.all_ports("bogus:*")  # malformed: allows nothing (the component rejects it)
    assert tailnet_checks.wildcard_destination("*:*") and not tailnet_checks.wildcard_destination("tag:k8s:*")
