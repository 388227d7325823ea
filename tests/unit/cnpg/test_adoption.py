"""The prod-shaped stack applied to a cluster that already has its objects (tests/support/pulumi_engine.py
``KubernetesWorld``: pulumi-kubernetes 4.x's rules for existing objects, Secret updates and waits)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.project import PROJECT_DIR
from offline.engine import load_stack_file, reveal
from tests.support.pulumi_engine import KubeApplyError, KubernetesWorld
from tests.support.render import RenderView, render_config

ARGO_SPEC = {
    "instances": 1,
    "imageName": "ghcr.io/cloudnative-pg/postgresql:17",
    "storage": {"size": "10Gi", "storageClass": "standard"},
    "bootstrap": {"initdb": {"database": "miniflux", "owner": "miniflux"}},
    "managed": {"roles": [{"name": "eblume", "login": True, "superuser": True}]},
}


def _prod(**cluster: Any) -> RenderView:
    config = load_stack_file(PROJECT_DIR, "prod")
    config["pg-dr:cluster"] = {**config["pg-dr:cluster"], **cluster}
    return render_config(config, stack="prod")


def _cnpg(obj: dict[str, Any]) -> None:
    """CNPG's operator, acting after an apply: the Cluster becomes Ready, a DatabaseRole applied."""
    if obj["kind"] == "Cluster":
        obj["status"] = {"phase": "Cluster in healthy state", "conditions": [{"type": "Ready", "status": "True"}]}
    elif obj["kind"] == "DatabaseRole":
        obj["status"] = {"applied": True}


def _homelab(render: RenderView, **world: Any) -> KubernetesWorld:
    """What runs today: ArgoCD's Cluster, and the role Secrets made with `op inject ... | kubectl apply`."""
    cluster = KubernetesWorld(operator=_cnpg, **world)
    cluster.put(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {
                "name": "blumeops-pg",
                "namespace": "databases",
                "labels": {"argocd.argoproj.io/instance": "blumeops-pg"},
            },
            "spec": copy.deepcopy(ARGO_SPEC),
        }
    )
    for secret in render.of_type("kubernetes:core/v1:Secret"):
        name = secret.inputs["metadata"]["name"]
        cluster.put(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": "databases",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
                },
                "type": "kubernetes.io/basic-auth",
                "stringData": reveal(secret.inputs["stringData"]),  # the same 1Password item
            }
        )
    return cluster


def test_without_adopt_preview_is_green_and_up_fails_with_already_exists() -> None:
    render = _prod(adopt=False)
    world = _homelab(render)
    assert all(op.startswith(("create", "patch")) for op in world.apply(render, preview=True))
    with pytest.raises(KubeApplyError, match=r'secrets "blumeops-pg-(borgmatic|eblume)" already exists'):
        world.apply(render)


def test_prod_adopts_the_secrets_and_patches_only_the_roles_of_argos_cluster() -> None:
    render = _prod()  # Pulumi.prod.yaml as committed: rolesPatch, adopt both Secrets
    world = _homelab(render)
    ops = world.apply(render)
    assert sorted(ops) == [
        "import Secret blumeops-pg-borgmatic",
        "import Secret blumeops-pg-eblume",
        "patch ClusterPatch blumeops-pg",
    ]
    live = world.get("Cluster", "databases", "blumeops-pg")
    # ArgoCD's fields untouched; managed.roles is pg-dr's list (every role, CNPG's defaults spelled out)
    assert {k: v for k, v in live["spec"].items() if k != "managed"} == {
        k: v for k, v in ARGO_SPEC.items() if k != "managed"
    }
    assert [r["name"] for r in live["spec"]["managed"]["roles"]] == ["eblume", "borgmatic"]
    assert world.managers[("Cluster", "databases", "blumeops-pg")] == {"spec.managed": "pg-dr"}
    assert "ready Cluster databases/blumeops-pg (condition=Ready)" in world.events
    # the adopting up left the hand-made Secrets' labels alone; the next up (adopt removed) sets pg-dr's
    assert "labels" not in world.get("Secret", "databases", "blumeops-pg-borgmatic")["metadata"]
    after = _prod(adopt=False)
    world.state = {r.urn: world.state[r.urn] for r in after.resources if r.urn in world.state}
    assert "update Secret blumeops-pg-borgmatic" in world.apply(after)
    labels = world.get("Secret", "databases", "blumeops-pg-borgmatic")["metadata"]["labels"]
    assert labels["cnpg.io/reload"] == "true"


def test_roles_patch_of_a_cluster_that_does_not_exist_fails() -> None:
    render = _prod()
    world = _homelab(render)
    del world.objects[("Cluster", "databases", "blumeops-pg")]
    with pytest.raises(KubeApplyError, match="does not exist: nothing to patch"):
        world.apply(render)


def test_owning_the_whole_cluster_imports_it_only_when_it_matches() -> None:
    adopt_all = _prod(mode="cluster", adopt=True)
    world = _homelab(adopt_all)
    with pytest.raises(KubeApplyError, match=r"blumeops-pg: inputs to import do not match"):
        world.apply(adopt_all)  # ArgoCD's spec has an image and only eblume's role: make the config match first
    # once the stack declares exactly what runs, the Cluster is imported, not re-created
    matching = _homelab(adopt_all)
    declared = adopt_all.one("kubernetes:postgresql.cnpg.io/v1:Cluster").inputs["spec"]
    matching.objects[("Cluster", "databases", "blumeops-pg")]["spec"] = reveal(copy.deepcopy(declared))
    assert "import Cluster blumeops-pg" in matching.apply(adopt_all)
    without = _prod(mode="cluster", adopt=["Secret/blumeops-pg-borgmatic", "Secret/blumeops-pg-eblume"])
    with pytest.raises(KubeApplyError, match=r'clusters "blumeops-pg" already exists'):
        _homelab(without).apply(without)


def test_importing_an_object_that_does_not_exist_fails() -> None:
    render = _prod()
    world = _homelab(render)
    del world.objects[("Secret", "databases", "blumeops-pg-eblume")]
    with pytest.raises(KubeApplyError, match="importing databases/blumeops-pg-eblume: resource does not exist"):
        world.apply(render)


def test_a_password_rotation_updates_the_secret_in_place() -> None:
    render = _prod(adopt=False)
    world = KubernetesWorld(operator=_cnpg)
    world.put(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "blumeops-pg", "namespace": "databases"},
            "spec": copy.deepcopy(ARGO_SPEC),
        }
    )
    world.apply(render)
    rotated = copy.deepcopy(render)
    secret = next(r for r in rotated.resources if r.name == "blumeops-pg-borgmatic" and r.type.endswith("Secret"))
    secret.inputs["stringData"] = {**reveal(secret.inputs["stringData"]), "password": "rotated"}
    world.events.clear()
    assert "update Secret blumeops-pg-borgmatic" in world.apply(rotated)
    assert "deleted Secret databases/blumeops-pg-borgmatic" not in world.events  # never gone (enableSecretMutable)
    # the stand-in's rule, without the provider setting: delete-before-replace, the Secret briefly gone
    for provider in rotated.of_type("pulumi:providers:kubernetes"):
        provider.inputs["enableSecretMutable"] = "false"
    secret.inputs["stringData"] = {**secret.inputs["stringData"], "password": "rotated again"}
    world.events.clear()
    assert "replace Secret blumeops-pg-borgmatic" in world.apply(rotated)
    assert world.events[:2] == [
        "deleted Secret databases/blumeops-pg-borgmatic",
        "created Secret databases/blumeops-pg-borgmatic",
    ]


def test_database_roles_wait_for_cnpg_to_apply_them() -> None:
    render = _prod(mode="databaseRole", adopt=False)
    world = KubernetesWorld(operator=_cnpg)
    world.apply(render)
    assert "ready DatabaseRole databases/blumeops-pg-borgmatic (jsonpath={.status.applied}=true)" in world.events
    # an operator that never applies the role: the up fails instead of reporting success
    stuck = KubernetesWorld(operator=lambda obj: None)
    with pytest.raises(KubeApplyError, match=r"timed out waiting for jsonpath=\{.status.applied\}=true"):
        stuck.apply(render)
    # and without a waitFor the apply returns before the operator acts (no status)
    for r in render.resources:
        r.inputs.get("metadata", {}).pop("annotations", None)
    quick = KubernetesWorld(operator=_cnpg)
    quick.apply(render)
    assert "status" not in quick.get("DatabaseRole", "databases", "blumeops-pg-borgmatic")
