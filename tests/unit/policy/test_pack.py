"""The whole policy pack: on the stacks' renders, through the engine's analyzer calls, and standalone.

``run_pack`` drives the pack's own analyzer servicer the way the engine does (Configure with the
reconciled ``--policy-pack-config``, Analyze per resource with secrets in the engine's envelope,
AnalyzeStack once). The standalone test starts the pack exactly as the Pulumi CLI does
(``python -m pulumi.policy <engine> .`` in ``policy/`` with the virtualenv PulumiPolicy.yaml names)
and talks gRPC to it.
"""

from __future__ import annotations

import re
import select
import subprocess
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from components.project import PROJECT_DIR
from offline.engine import SECRET_SIG, SPECIAL_SIG_KEY, RegisteredResource, Render, load_stack_file
from policy.rules import CLUSTER, CLUSTER_PATCH, COMMAND, DATABASE_ROLE, POLICIES
from policy.tailnet_checks import ACL
from tests.support.policy_pack import POLICY_DIR, load_pack_config, reconcile, run_pack
from tests.support.render import render_config, render_stack
from tests.support.stacks import stack

DEV_CONFIG = POLICY_DIR / "config.dev.json"
POLICY_NAMES = sorted(p.name for p in POLICIES)


def _summary(diagnostics: list[Any]) -> str:
    return "\n".join(str(d) for d in diagnostics)


# ------------------------------------------------------------------------------------- stack renders
def test_prod_render_passes_the_whole_pack() -> None:
    render = render_stack("prod")
    diagnostics = run_pack(render)
    assert diagnostics == [], _summary(diagnostics)
    # Not vacuous: the CNPG rules had the roles patch and its role Secrets to check.
    assert {r.type for r in render.resources} >= {CLUSTER_PATCH, "kubernetes:core/v1:Secret"}


def _prod_owning_the_cluster() -> Render:
    """Prod in mode cluster (pg-dr owns the whole Cluster): what cnpg-cluster-protected checks."""
    config = load_stack_file(PROJECT_DIR, "prod")
    config["pg-dr:cluster"] = {**config["pg-dr:cluster"], "mode": "cluster", "adopt": False}
    return render_config(config, stack="prod")


def test_dev_render_passes_the_pack_with_its_policy_config() -> None:
    diagnostics = run_pack(render_stack("dev"), load_pack_config(DEV_CONFIG))
    assert diagnostics == [], _summary(diagnostics)


def test_dev_policy_config_relaxes_only_what_dev_needs() -> None:
    """Without its config, dev fails only rules its config relaxes, and only on dev's own resources."""
    relaxed = set(load_pack_config(DEV_CONFIG))
    diagnostics = run_pack(render_stack("dev"))
    assert {d.policy for d in diagnostics} == relaxed, _summary(diagnostics)
    assert all(d.level == "mandatory" and d.urn.startswith("urn:pulumi:dev::") for d in diagnostics)


def test_pack_config_files_validate_against_the_policies_schemas() -> None:
    reconciled = reconcile(load_pack_config(DEV_CONFIG))
    assert reconciled["cnpg-cluster-protected"]["unprotectedClusters"] == ["dev-pg"]
    assert reconciled["cnpg-backup-role-read-only"]["backupRoles"] == ["borgmatic"]  # schema default kept
    assert {c["enforcementLevel"] for c in reconciled.values()} == {"mandatory"}
    with pytest.raises(jsonschema.ValidationError, match="unprotectedCluster"):
        reconcile({"cnpg-cluster-protected": {"unprotectedCluster": ["dev-pg"]}})  # typo
    with pytest.raises(ValueError, match="unknown policies"):
        reconcile({"cnpg-cluster-protection": "advisory"})


def test_enforcement_is_configurable() -> None:
    dev = render_stack("dev")
    cluster_rule = "cnpg-cluster-protected"
    advisory = [d for d in run_pack(dev, {"all": "advisory"}) if d.policy == cluster_rule]
    assert advisory and {d.level for d in advisory} == {"advisory"}
    one = [d for d in run_pack(dev, {cluster_rule: {"enforcementLevel": "advisory"}}) if d.policy == cluster_rule]
    assert one and {d.level for d in one} == {"advisory"}
    assert [d for d in run_pack(dev, {cluster_rule: "disabled"}) if d.policy == cluster_rule] == []


def test_database_role_mode_render_passes_the_whole_pack() -> None:
    config = stack()
    config["pg-dr:cluster"]["mode"] = "databaseRole"
    render = render_config(config)
    assert render.of_type(DATABASE_ROLE)
    diagnostics = run_pack(render, config=config)
    assert diagnostics == [], _summary(diagnostics)


# ----------------------------------------------------------------------- regressions in a real render
def _named(render: Render, name: str) -> RegisteredResource:
    return next(r for r in render.resources if r.name == name)


def _log_the_pgpass(render: Render) -> str:
    _named(render, "borgmatic-pgpass").inputs["logging"] = "stdoutAndStderr"
    return "borgmatic-pgpass"


def _unpin_the_verification(render: Render) -> str:
    connection = _named(render, "borgmatic-verify").inputs["connection"]
    del connection.value["hostKey"]
    return "borgmatic-verify"


def _drop_the_reload_label(render: Render) -> str:
    del _named(render, "blumeops-pg-borgmatic").inputs["metadata"]["labels"]["cnpg.io/reload"]
    return "blumeops-pg-borgmatic"


def _leave_inherit_to_cnpg(render: Render) -> str:
    del _named(render, "blumeops-pg").inputs["spec"]["managed"]["roles"][0]["inherit"]
    return "blumeops-pg"


def _unprotect_the_cluster(render: Render) -> str:
    _named(render, "blumeops-pg").protect = False
    return "blumeops-pg"


def _grant_everything(render: Render) -> str:
    acl = _named(render, "tailnet-policy")
    acl.inputs["acl"] = acl.inputs["acl"].replace('"src": ["autogroup:admin"]', '"src": ["group:family"]', 1)
    return "tailnet-policy"


def _untest_the_backup_grant(render: Render) -> str:
    acl = _named(render, "tailnet-policy")
    acl.inputs["acl"] = acl.inputs["acl"].replace('"accept": ["tag:k8s:5432"]', '"accept": []', 1)
    return "tailnet-policy"


def _write_the_backup_role(render: Render) -> str:
    roles = _named(render, "blumeops-pg").inputs["spec"]["managed"]["roles"]
    next(r for r in roles if r["name"] == "borgmatic")["inRoles"].append("pg_write_all_data")
    return "blumeops-pg"


@pytest.mark.parametrize(
    ("regress", "policy"),
    [
        (_write_the_backup_role, "cnpg-backup-role-read-only"),
        (_leave_inherit_to_cnpg, "cnpg-role-explicit-defaults"),
        (_drop_the_reload_label, "cnpg-role-password-secret"),
        (_unprotect_the_cluster, "cnpg-cluster-protected"),
        (_unpin_the_verification, "remote-command-host-key-pinned"),
        (_log_the_pgpass, "remote-command-secret-no-logging"),
        (_grant_everything, "tailnet-no-wildcard-grant"),
        (_untest_the_backup_grant, "tailnet-tag-grant-tested"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__.strip("_"),
)
def test_each_rule_catches_a_regression_in_the_prod_render(regress: Any, policy: str) -> None:
    """Every rule has a real prod resource to check: one edit to it makes exactly that rule fire."""
    render = _prod_owning_the_cluster() if policy == "cnpg-cluster-protected" else render_stack("prod")
    name = regress(render)
    diagnostics = run_pack(render)
    assert [(d.policy, d.urn.rsplit("::", 1)[-1]) for d in diagnostics] == [(policy, name)], _summary(diagnostics)


# ---------------------------------------------------------------------- violations from real configs
def test_privileged_backup_role_in_a_config_fails_the_pack() -> None:
    config = stack()
    config["pg-dr:cluster"]["roles"][0]["createrole"] = True
    diagnostics = run_pack(render_config(config), config=config)
    assert [(d.policy, d.level) for d in diagnostics] == [("cnpg-backup-role-read-only", "mandatory")]
    assert "backup role 'borgmatic' has createrole" in diagnostics[0].message
    assert diagnostics[0].urn.endswith(f"{CLUSTER}::blumeops-pg")


def test_backup_database_on_a_superuser_fails_the_pack_via_the_stack_config() -> None:
    """Config validation accepts a superuser backup user; the pack does not (it reads pg-dr:backup)."""
    config = stack()
    superuser = {"name": "eblume", "login": True, "superuser": True, "password": "op://blumeops/eblume/db-password"}
    config["pg-dr:cluster"]["roles"].append(superuser)
    k8s_db = config["pg-dr:backup"]["databases"][1]
    k8s_db.update(username="eblume", password=superuser["password"])
    render = render_config(config)
    assert run_pack(render, config={}) == [], "without the stack config, eblume is not known as a backup role"
    diagnostics = run_pack(render, config=config)
    assert [d.policy for d in diagnostics] == ["cnpg-backup-role-read-only"]
    assert "backup role 'eblume' has superuser" in diagnostics[0].message


def test_unprotected_cluster_in_a_config_fails_the_pack() -> None:
    config = stack()
    config["pg-dr:cluster"]["protect"] = False
    diagnostics = run_pack(render_config(config), config=config)
    assert [d.policy for d in diagnostics] == ["cnpg-cluster-protected"]


# ------------------------------------------------------------------------------- packaging, standalone
def test_pack_requirements_match_the_project_pins() -> None:
    def pins(path: Path) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return dict(line.lower().replace("_", "-").split("==") for line in lines if "==" in line)

    pack, project = pins(POLICY_DIR / "requirements.txt"), pins(PROJECT_DIR / "requirements.txt")
    assert pack == {"pulumi": project["pulumi"], "pulumi-policy": project["pulumi-policy"]}
    assert pack["pulumi-policy"] == "1.21.0"


def _pack_python() -> Path:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    # The CLI's analyzer script resolves the virtualenv relative to the pack directory.
    return (POLICY_DIR / project["runtime"]["options"]["virtualenv"]).resolve() / "bin" / "python"


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(value, struct_pb2.Struct())


def test_pack_runs_standalone_as_the_cli_runs_it() -> None:
    python = _pack_python()
    assert python.exists(), f"{python}: run `make venv` (PulumiPolicy.yaml points the pack at the project venv)"
    process = subprocess.Popen(
        [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=POLICY_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)  # never block the suite on a stuck pack
        line = process.stdout.readline() if ready else ""
        if not re.fullmatch(r"[0-9]+\n", line):
            process.kill()
            pytest.fail(f"the pack printed no port: {line!r}\n{process.stderr.read() if process.stderr else ''}")
        with grpc.insecure_channel(f"127.0.0.1:{line.strip()}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
            assert info.name == "pg-dr"
            assert sorted(p.name for p in info.policies) == POLICY_NAMES
            assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}
            schema = next(p for p in info.policies if p.name == "cnpg-backup-role-read-only").configSchema
            assert json_format.MessageToDict(schema.properties)["backupRoles"]["default"] == ["borgmatic"]

            connection = {"host": "localhost", "user": "pgdr", "hostKey": "ssh-ed25519 AAAA"}
            unpinned = {"connection": {"host": "indri.tail8d86e.ts.net", "user": "erichblume"}, "create": "true"}
            plain_stdin = {"connection": connection, "create": "cat", "stdin": "plain"}
            secret_stdin = {
                "connection": connection,
                "create": "cat",
                "stdin": {SPECIAL_SIG_KEY: SECRET_SIG, "value": "pw"},
            }
            wildcard = {"acl": '// c\n{"grants": [{"src": ["group:x"], "dst": ["*"], "ip": ["*"]},],}'}
            found = []
            cases = ((COMMAND, unpinned), (COMMAND, plain_stdin), (COMMAND, secret_stdin), (ACL, wildcard))
            for type_, props in cases:
                request = analyzer_pb2.AnalyzeRequest(
                    type=type_, properties=_struct(props), urn=f"urn:{type_}", name="x"
                )
                found += [(d.policyName, d.enforcementLevel) for d in stub.Analyze(request, timeout=30).diagnostics]
            # The unpinned host, the secret stdin (seen through the engine's secret envelope: the pack
            # installed policy/secret_marks.py) and the wildcard grant; the plain stdin may log.
            assert found == [
                ("remote-command-host-key-pinned", analyzer_pb2.MANDATORY),
                ("remote-command-secret-no-logging", analyzer_pb2.MANDATORY),
                ("tailnet-no-wildcard-grant", analyzer_pb2.MANDATORY),
            ]
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
