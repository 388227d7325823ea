"""The prod-shaped stack applied to a cluster that already has its objects (tests/support/pulumi_engine.py
``KubernetesWorld``: pulumi-kubernetes 4.34's and Pulumi 3.272's rules for imports, server-side apply with
field owners, patches, waits and CNPG's operator).

The program reads the live objects itself (``render_config(live=world)`` serves its ``Resource.get``), so
what adopting would change is refused at preview. Each refusal has a control: the same stack rendered
without the read (``pg-dr render``: no cluster), applied to the same world, shows what reality does.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components.project import PROJECT_DIR
from offline.engine import RenderError, load_stack_file, reveal
from tests.support.pulumi_engine import KubeApplyError, KubernetesWorld
from tests.support.render import RenderView, render_config

ARGO_SPEC = {
    "instances": 1,
    "imageName": "ghcr.io/cloudnative-pg/postgresql:17",
    "storage": {"size": "10Gi", "storageClass": "standard"},
    "bootstrap": {"initdb": {"database": "miniflux", "owner": "miniflux"}},
    "managed": {"roles": [{"name": "eblume", "login": True, "superuser": True}]},
}
CLUSTER = ("Cluster", "databases", "blumeops-pg")
ARGO = "argocd-controller"


def _config(**cluster: Any) -> dict[str, Any]:
    config = load_stack_file(PROJECT_DIR, "prod")
    config["pg-dr:cluster"] = {**config["pg-dr:cluster"], **cluster}
    return config


def _prod(world: KubernetesWorld | None = None, **cluster: Any) -> RenderView:
    """The prod stack as `pulumi preview`/`up` runs it: its reads served by ``world`` (None: offline)."""
    return render_config(_config(**cluster), stack="prod", live=world)


def _passwords() -> dict[str, str]:
    """The Secrets' data as pg-dr would apply it (the render's placeholder passwords)."""
    return {
        s.inputs["metadata"]["name"]: reveal(s.inputs["stringData"])
        for s in _prod().of_type("kubernetes:core/v1:Secret")
    }


def _homelab(secret_manager: str | None = "kubectl-client-side-apply", **secret: Any) -> KubernetesWorld:
    """What runs today: ArgoCD's Cluster, and the role Secrets made with `op inject ... | kubectl apply`."""
    world = KubernetesWorld()
    world.put(
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {
                "name": "blumeops-pg",
                "namespace": "databases",
                "labels": {"argocd.argoproj.io/instance": "blumeops-pg"},
            },
            "spec": copy.deepcopy(ARGO_SPEC),
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
        manager=ARGO,
    )
    for name, data in _passwords().items():
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": "databases",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
            },
            "type": "kubernetes.io/basic-auth",
            "stringData": dict(data),  # the same 1Password item
        }
        manifest.update(secret)
        world.put(manifest, manager=secret_manager)
    return world


def test_without_adopt_preview_is_green_and_up_fails_with_already_exists() -> None:
    world = _homelab()
    render = _prod(world, adopt=False)
    assert all(op.startswith(("create", "patch")) for op in world.apply(render, preview=True))
    with pytest.raises(KubeApplyError, match=r'secrets "blumeops-pg-(borgmatic|eblume)" already exists'):
        world.apply(render)


def test_prod_adopts_the_secrets_and_patches_only_the_roles_of_argos_cluster() -> None:
    world = _homelab()
    render = _prod(world)  # Pulumi.prod.yaml as committed: rolesPatch, adopt both Secrets
    assert sorted(world.apply(render, preview=True)) == [
        "import+update Secret blumeops-pg-borgmatic",
        "import+update Secret blumeops-pg-eblume",
        "patch ClusterPatch blumeops-pg",
    ]
    ops = world.apply(render)
    assert sorted(ops) == [
        "import+update Secret blumeops-pg-borgmatic",  # the same data; pg-dr's labels added
        "import+update Secret blumeops-pg-eblume",
        "patch ClusterPatch blumeops-pg",
    ]
    live = world.get(*CLUSTER)
    # ArgoCD's fields untouched; managed.roles is pg-dr's list (every role, CNPG's defaults spelled out)
    assert {k: v for k, v in live["spec"].items() if k != "managed"} == {
        k: v for k, v in ARGO_SPEC.items() if k != "managed"
    }
    assert [r["name"] for r in live["spec"]["managed"]["roles"]] == ["eblume", "borgmatic"]
    managers = world.managers(*CLUSTER)
    assert managers["spec.managed.roles"] == {"pg-dr"}  # taken over from ArgoCD (pulumi.com/patchForce)
    assert managers["spec.storage.size"] == {ARGO}
    secret = world.get("Secret", "databases", "blumeops-pg-borgmatic")
    assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"  # set by the adopting up itself
    # the data is shared with kubectl's manager (equal values), never rewritten
    assert world.managers("Secret", "databases", "blumeops-pg-borgmatic")["data.password"] == {
        "kubectl-client-side-apply",
        "pulumi-kubernetes-pg-dr",
    }
    # the next up changes nothing, and the import option left in place is a no-op
    assert set(world.apply(_prod(world))) == {"same Secret blumeops-pg-borgmatic", "same Secret blumeops-pg-eblume",
                                               "same ClusterPatch blumeops-pg"}  # fmt: skip


@pytest.mark.parametrize("manager", ["kubectl-client-side-apply", None], ids=["kubectl-apply", "legacy"])
def test_an_adopted_secret_whose_password_differs_is_refused_at_preview_without_the_value(manager: str | None) -> None:
    world = _homelab(manager)
    for name in ("blumeops-pg-eblume",):
        world.put(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "databases"},
             "type": "kubernetes.io/basic-auth", "stringData": {"username": "eblume", "password": "old hunter2"}},
            manager=manager,
        )  # fmt: skip
    with pytest.raises(Exception, match="Secret databases/blumeops-pg-eblume differs") as refused:
        _prod(world)
    assert "data.password differs" in str(refused.value)
    assert "hunter2" not in str(refused.value) and _passwords()["blumeops-pg-eblume"]["password"] not in str(
        refused.value
    )
    # control, what the import alone does: a conflict at up (kubectl's field), or on a legacy object without
    # managedFields (forced by patchForce) the password silently overwritten, which CNPG then applies
    offline = _prod()
    assert "import+update Secret blumeops-pg-eblume" in world.apply(offline, preview=True)
    if manager is None:
        world.apply(offline)
        assert world.get("Secret", "databases", "blumeops-pg-eblume")["data"]["password"] != "old hunter2"
        assert "updated Secret databases/blumeops-pg-eblume" in world.events
    else:
        with pytest.raises(KubeApplyError, match=r'conflict with "kubectl-client-side-apply": .data.password'):
            world.apply(offline)


def test_an_adopted_secret_of_another_type_is_refused_at_preview() -> None:
    world = _homelab(type="Opaque")
    with pytest.raises(Exception, match=r"type is 'Opaque', pg-dr applies 'kubernetes.io/basic-auth'"):
        _prod(world)
    # control: preview is green, and up fails (a type change is a replacement an import may not make)
    offline = _prod()
    world.apply(offline, preview=True)
    with pytest.raises(KubeApplyError, match="previously-imported resources that still specify an ID may not be"):
        world.apply(offline)


def test_roles_patch_of_a_cluster_that_does_not_exist_fails_at_preview_naming_it() -> None:
    world = _homelab()
    del world.objects[CLUSTER]
    with pytest.raises(RenderError, match=r"resource 'databases/blumeops-pg' does not exist"):
        _prod(world)
    # control: pulumi-kubernetes never previews a patch, and at up the patch tries to create the Cluster
    offline = _prod()
    assert "patch ClusterPatch blumeops-pg" in world.apply(offline, preview=True)
    with pytest.raises(KubeApplyError, match="Size not configured"):
        world.apply(offline)
    assert world.get(*CLUSTER) is None


def test_owning_the_whole_cluster_adopts_it_only_when_its_spec_outside_the_roles_matches() -> None:
    # ArgoCD's spec runs 10Gi; a stack declaring 20Gi would resize it: refused, with both values
    world = _homelab()
    with pytest.raises(Exception, match=r"Cluster databases/blumeops-pg differs") as refused:
        _prod(world, mode="cluster", adopt=True, storage={"size": "20Gi"})
    assert "spec.storage.size is '10Gi', pg-dr applies '20Gi'" in str(refused.value)
    # control, on a Cluster nobody owns (no managedFields): the import's update silently resizes it
    legacy = _homelab()
    legacy.put({**legacy.get(*CLUSTER)}, manager=None)
    offline = _prod(mode="cluster", adopt=True, storage={"size": "20Gi"}, protect=False)
    assert "import+update Cluster blumeops-pg" in legacy.apply(offline)
    assert legacy.get(*CLUSTER)["spec"]["storage"]["size"] == "20Gi"
    # a matching spec (outside the roles) is adopted; the roles are pg-dr's by design
    matching = _homelab()
    matching.put({**matching.get(*CLUSTER)}, manager=None)
    assert "import+update Cluster blumeops-pg" in matching.apply(_prod(matching, mode="cluster", adopt=True))
    assert matching.get(*CLUSTER)["spec"]["storage"] == ARGO_SPEC["storage"]


def test_importing_an_object_that_does_not_exist_fails_at_preview() -> None:
    world = _homelab()
    del world.objects[("Secret", "databases", "blumeops-pg-eblume")]
    with pytest.raises(RenderError, match="resource 'databases/blumeops-pg-eblume' does not exist"):
        _prod(world)
    with pytest.raises(KubeApplyError, match="resource 'databases/blumeops-pg-eblume' does not exist"):
        world.apply(_prod(), preview=True)  # the engine's import reads too, at preview


def test_database_role_mode_refuses_a_role_still_inline_in_the_cluster() -> None:
    world = _homelab()
    with pytest.raises(Exception, match=r"still manages eblume inline \(spec.managed.roles\)") as refused:
        _prod(world, mode="databaseRole")
    assert "already managed by the CNPG cluster" in str(refused.value)
    # control: CNPG marks the DatabaseRole applied=false and the up waits for it until it times out
    with pytest.raises(KubeApplyError, match=r"timed out waiting for .*already managed by the CNPG cluster"):
        world.apply(_prod(mode="databaseRole"))
    # once ArgoCD's manifest drops the inline roles, the DatabaseRoles apply
    fresh = _homelab()
    fresh.get(*CLUSTER)["spec"].pop("managed")
    fresh.apply(_prod(fresh, mode="databaseRole"))
    assert "ready DatabaseRole databases/blumeops-pg-borgmatic (jsonpath={.status.applied}=true)" in fresh.events


def test_ready_is_stale_after_a_patch_of_a_cluster_that_was_ready() -> None:
    """CNPG's Ready condition has no observedGeneration: the wait returns before CNPG reconciled the patch
    (what the backup's login wait covers; docs/brownfield.md)."""
    world = _homelab()
    world.apply(_prod(world))
    ready = world.events.index("ready Cluster databases/blumeops-pg (condition=Ready)")
    reconciled = world.events.index("reconciled Cluster databases/blumeops-pg generation 2")
    assert ready < reconciled


def test_roles_removed_by_another_tool_come_back_only_with_refresh() -> None:
    assert yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["options"]["refresh"] == "always"
    world = _homelab()
    world.apply(_prod(world))
    # ArgoCD's sync (its manifest still carrying managed.roles, or ignoreDifferences dropped) strips pg-dr's roles
    world.ssa(CLUSTER, {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "spec": {"managed": {"roles": []}}},
              ARGO, force=True)  # fmt: skip
    drifted = _prod(world)
    assert any("spec.managed.roles is not pg-dr's list" in w for w in drifted.warnings)
    assert "same ClusterPatch blumeops-pg" in world.apply(drifted)  # the diff is against the checkpoint
    assert world.get(*CLUSTER)["spec"]["managed"]["roles"] == []
    assert "patch ClusterPatch blumeops-pg" in world.apply(drifted, refresh=True)  # options: refresh: always
    assert [r["name"] for r in world.get(*CLUSTER)["spec"]["managed"]["roles"]] == ["eblume", "borgmatic"]


def test_a_password_rotation_updates_the_secret_in_place() -> None:
    world = KubernetesWorld()
    world.put({**_homelab().get(*CLUSTER)}, manager=ARGO)
    render = _prod(world, adopt=False)
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
    world = _homelab()
    world.get(*CLUSTER)["spec"].pop("managed")
    render = _prod(world, mode="databaseRole")
    world.apply(render)
    assert "ready DatabaseRole databases/blumeops-pg-borgmatic (jsonpath={.status.applied}=true)" in world.events
    # an operator that never applies the role: the up fails instead of reporting success
    stuck = _homelab()
    stuck.get(*CLUSTER)["spec"].pop("managed")
    stuck.operator = lambda obj: None
    with pytest.raises(KubeApplyError, match=r"timed out waiting for jsonpath=\{.status.applied\}=true"):
        stuck.apply(render)
    # and without a waitFor the apply returns before the operator acts (no status)
    for r in render.resources:
        r.inputs.get("metadata", {}).pop("annotations", None)
    quick = _homelab()
    quick.apply(render)
    assert "status" not in quick.get("DatabaseRole", "databases", "blumeops-pg-borgmatic")


def test_upsert_is_an_unforced_apply_that_conflicts_with_other_managers_values() -> None:
    """``upsertExisting``: green preview, then a conflict at up for a password kubectl's manager set; the
    same value is shared without a conflict. Nothing is read or checked first (docs/brownfield.md)."""
    world = _homelab()
    world.put(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "blumeops-pg-eblume", "namespace": "databases"},
         "type": "kubernetes.io/basic-auth", "stringData": {"username": "eblume", "password": "old"}},
    )  # fmt: skip
    render = _prod(world, adopt=False, upsertExisting=True)
    assert "upsert Secret blumeops-pg-eblume" in world.apply(render, preview=True)
    with pytest.raises(KubeApplyError, match=r'conflict with "kubectl-client-side-apply": .data.password'):
        world.apply(render)
    matching = _homelab()
    assert "upsert Secret blumeops-pg-eblume" in matching.apply(_prod(matching, adopt=False, upsertExisting=True))


def test_offline_the_reads_are_registered_and_nothing_is_compared() -> None:
    render = _prod()  # `pg-dr render`: no cluster
    assert sorted(render.reads) == [
        ("kubernetes:core/v1:Secret", "databases/blumeops-pg-borgmatic"),
        ("kubernetes:core/v1:Secret", "databases/blumeops-pg-eblume"),
        ("kubernetes:postgresql.cnpg.io/v1:Cluster", "databases/blumeops-pg"),
    ]
    patch = render.one("kubernetes:postgresql.cnpg.io/v1:ClusterPatch")
    assert patch.inputs["metadata"]["name"] == "blumeops-pg"  # released by the read, never secret
    assert not render.warnings
