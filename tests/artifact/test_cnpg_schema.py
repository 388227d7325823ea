"""Rendered CNPG manifests validate against the CNPG v1.30.0 CRDs' openAPIV3Schema."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from offline.engine import reveal
from tests.support.render import render_config, render_stack
from tests.support.stacks import stack

SCHEMAS = Path(__file__).resolve().parents[1] / "support" / "schemas" / "cnpg"  # vendored, see SOURCE.txt


@cache
def _schema(kind: str) -> dict[str, Any]:
    path = SCHEMAS / f"postgresql.cnpg.io_{kind.lower()}s.yaml"
    crd = yaml.safe_load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return version["schema"]["openAPIV3Schema"]


def _validate(manifest: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(_schema(manifest["kind"])).validate(manifest)


def _manifest(resource) -> dict[str, Any]:
    return {k: reveal(resource.inputs[k]) for k in ("apiVersion", "kind", "metadata", "spec")}


def test_schemas_are_present_and_strict_enough_to_fail() -> None:
    bad = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": 1, "managed": {"roles": [{"name": "r", "ensure": "maybe"}]}},
    }
    with pytest.raises(jsonschema.ValidationError, match="maybe"):
        _validate(bad)


def test_rendered_cluster_validates() -> None:
    (cluster,) = render_stack("dev").of_type("kubernetes:postgresql.cnpg.io/v1:Cluster")
    _validate(_manifest(cluster))


def test_prods_roles_patch_gives_a_valid_cluster() -> None:
    """Prod patches spec.managed.roles of the Cluster ArgoCD owns: the patched Cluster still validates."""
    (patch,) = render_stack("prod").of_type("kubernetes:postgresql.cnpg.io/v1:ClusterPatch")
    manifest = _manifest(patch)
    manifest["spec"] = {"instances": 1, "storage": {"size": "10Gi"}, **manifest["spec"]}
    _validate(manifest)


def test_rendered_database_roles_validate() -> None:
    config = stack()
    config["pg-dr:cluster"]["mode"] = "databaseRole"
    config["pg-dr:cluster"]["roles"].append(
        {"name": "reporting", "login": True, "disablePassword": True, "validUntil": "2030-01-01T00:00:00Z"}
    )
    roles = render_config(config).of_type("kubernetes:postgresql.cnpg.io/v1:DatabaseRole")
    assert len(roles) == 2
    for role in roles:
        manifest = _manifest(role)
        _validate(manifest)
        broken = copy.deepcopy(manifest)
        broken["spec"]["databaseRoleReclaimPolicy"] = "drop"
        with pytest.raises(jsonschema.ValidationError):
            _validate(broken)
