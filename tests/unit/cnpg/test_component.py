"""CnpgRoles under the SDK's mocks: the explicit provider, waits, the roles patch, adoption and the namespace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from offline.cli import main
from offline.engine import Secret, reveal
from tests.support.render import render_config, render_stack
from tests.support.stacks import raw_sections, stack

PROVIDER = "pulumi:providers:kubernetes"
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
PATCH = "kubernetes:postgresql.cnpg.io/v1:ClusterPatch"
DATABASE_ROLE = "kubernetes:postgresql.cnpg.io/v1:DatabaseRole"
SECRET = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"


def _cluster(**changes) -> dict:
    config = stack()
    config["pg-dr:cluster"].update(changes)
    return config


def test_every_kubernetes_object_goes_through_one_explicit_provider() -> None:
    config = _cluster()
    config["kubernetes:context"] = "homelab"
    render = render_config(config)
    provider = render.one(PROVIDER)
    assert provider.parent == render.one("pg-dr:index:CnpgRoles").urn
    # a password rotation updates the Secret in place; SSA (patches need it); no silent upsert
    assert provider.inputs == {
        "context": "homelab",
        "enableSecretMutable": "true",
        "enableServerSideApply": "true",
        "upsertExistingObjects": "false",
    }
    k8s = [r for r in render.resources if r.type.startswith("kubernetes:")]
    assert {r.type for r in k8s} == {SECRET, CLUSTER}
    for r in k8s:
        assert r.options["provider"].startswith(provider.urn + "::"), r.name
    # pg-dr:cluster.context wins over kubernetes:context; upsertExisting is explicit
    config["pg-dr:cluster"].update(context="other", upsertExisting=True)
    inputs = render_config(config).one(PROVIDER).inputs
    assert (inputs["context"], inputs["upsertExistingObjects"]) == ("other", "true")


def test_the_provider_and_imports_are_in_graph_json(tmp_path: Path) -> None:
    assert main(["render", "prod", "--out", str(tmp_path)]) == 0
    graph = {(r["type"], r["name"]): r for r in json.loads((tmp_path / "graph.json").read_text())["resources"]}
    provider = graph[(PROVIDER, "cnpg-k8s")]
    assert provider["inputs"]["context"] == "blumeops" and provider["inputs"]["enableSecretMutable"] == "true"
    secret = graph[(SECRET, "blumeops-pg-borgmatic")]
    assert secret["provider"] == f"{PROVIDER}::cnpg-k8s"
    assert secret["import"] == "databases/blumeops-pg-borgmatic"
    assert "import" not in graph[(PATCH, "blumeops-pg")]


def test_cluster_waits_for_ready_and_database_roles_for_applied() -> None:
    cluster = render_config(_cluster()).one(CLUSTER)
    assert cluster.inputs["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    roles = render_config(_cluster(mode="databaseRole")).of_type(DATABASE_ROLE)
    assert roles and all(
        r.inputs["metadata"]["annotations"] == {"pulumi.com/waitFor": "jsonpath={.status.applied}=true"} for r in roles
    )


def test_roles_patch_owns_only_the_managed_roles_under_pg_drs_field_manager() -> None:
    render = render_config(_cluster(mode="rolesPatch"))
    assert not render.of_type(CLUSTER)
    patch = render.one(PATCH, "blumeops-pg")
    assert patch.inputs["apiVersion"] == "postgresql.cnpg.io/v1" and patch.inputs["kind"] == "Cluster"
    assert patch.inputs["metadata"] == {
        "name": "blumeops-pg",
        "namespace": "databases",
        "annotations": {
            "pulumi.com/patchFieldManager": "pg-dr",
            "pulumi.com/patchForce": "true",
            "pulumi.com/waitFor": "condition=Ready",
        },
    }
    assert list(patch.inputs["spec"]) == ["managed"] and list(patch.inputs["spec"]["managed"]) == ["roles"]
    assert [r["name"] for r in patch.inputs["spec"]["managed"]["roles"]] == ["borgmatic"]
    assert patch.retain_on_delete  # never relinquished: the roles would lose their manager
    secret = render.one(SECRET, "blumeops-pg-borgmatic")
    assert secret.urn in patch.dependencies
    # the borgmatic verification waits for the patch (the role exists only once it is applied)
    verify = render.one("command:remote:Command", "borgmatic-verify")
    assert patch.urn in verify.dependencies


def test_adopt_imports_existing_objects_by_namespace_and_name() -> None:
    render = render_config(_cluster(adopt=True))
    for r in (render.one(SECRET), render.one(CLUSTER)):
        name = r.inputs["metadata"]["name"]
        assert r.options["importId"] == f"databases/{name}"
        # nothing ignored: the adopting up sets pg-dr's labels and the waitFor annotation (an import applies
        # the differences in the same up; the live check refuses any other difference, test_adoption.py)
        assert r.options["ignoreChanges"] == []
        assert r.inputs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "pg-dr"
    assert render.one(CLUSTER).inputs["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    only_secret = render_config(_cluster(adopt=["Secret/blumeops-pg-borgmatic"]))
    assert only_secret.one(SECRET).options["importId"] == "databases/blumeops-pg-borgmatic"
    assert only_secret.one(CLUSTER).options["importId"] is None
    assert only_secret.one(CLUSTER).options["ignoreChanges"] == []
    roles = render_config(_cluster(mode="databaseRole", adopt=["Secret/blumeops-pg-borgmatic"]))
    assert roles.one(DATABASE_ROLE).options["importId"] is None


def test_adopt_names_must_be_objects_pg_dr_manages() -> None:
    raw = raw_sections(_cluster(mode="rolesPatch", adopt=["Cluster/blumeops-pg", "Secret/blumeops-pg-borgmatic"]))
    with pytest.raises(
        ConfigError, match=r"pg-dr:cluster.adopt: names Cluster/blumeops-pg, which pg-dr does not manage"
    ):
        parse_stack_config(raw)
    with pytest.raises(ConfigError, match=r"pg-dr:cluster.createNamespace: and adopt exclude each other"):
        parse_stack_config(raw_sections(_cluster(adopt=True, createNamespace=True)))


def test_dev_creates_its_namespace_first_and_keeps_it() -> None:
    render = render_stack("dev")
    namespace = render.one(NAMESPACE, "pg-dr-dev")
    assert namespace.inputs["metadata"]["name"] == "pg-dr-dev" and namespace.retain_on_delete
    for r in render.resources:
        if r.type.startswith("kubernetes:") and r.type != NAMESPACE:
            assert namespace.urn in r.dependencies, r.name
    assert not render_config(_cluster()).of_type(NAMESPACE)  # prod's namespace exists


def test_a_kubeconfig_from_the_stack_reaches_the_provider_as_a_secret() -> None:
    config = _cluster()
    config["kubernetes:kubeconfig"] = "apiVersion: v1\nusers: [{name: me, user: {token: t0ken}}]\n"
    provider = render_config(config).one(PROVIDER)
    assert isinstance(provider.inputs["kubeconfig"], Secret)
    assert "t0ken" in reveal(provider.inputs["kubeconfig"])
    assert "kubeconfig" not in render_config(_cluster()).one(PROVIDER).inputs
