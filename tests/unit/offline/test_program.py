"""The whole ``__main__.py`` under the SDK's mocks, through the same engine as ``pg-dr render``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from components.project import PROJECT_DIR
from offline.cli import main
from offline.engine import Render, RenderError, Secret, iter_plain_strings, reveal
from offline.output import graph, write_render
from tests.support.fake_secrets import fake_secrets_for_file
from tests.support.onepassword_fake import FakeOnePassword
from tests.support.render import render_config, render_stack
from tests.support.stacks import BASE, stack

STACK_FILES = sorted(PROJECT_DIR.glob("Pulumi.*.yaml"))
CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
DATABASE_ROLE = "kubernetes:postgresql.cnpg.io/v1:DatabaseRole"
SECRET = "kubernetes:core/v1:Secret"
KNOWN_PASSWORD = "Kn0wn:pass\\word with spaces"


def _stack_name(path: Path) -> str:
    return path.name.split(".")[1]


@pytest.mark.parametrize("path", STACK_FILES, ids=_stack_name)
def test_every_stack_file_renders_with_components_owning_resources(path: Path) -> None:
    render = render_stack(_stack_name(path))
    assert render.resources, "a stack with no resources"
    components = {r.urn for r in render.resources if not r.custom}
    for r in render.resources:
        assert r.type.startswith("pg-dr:index:") or r.parent in components, f"{r.type} {r.name} has no component"
        if not r.custom:
            assert r.parent and r.parent.endswith(f"pulumi:pulumi:Stack::pg-dr-{render.stack}")


def test_prod_cluster_roles_and_secret() -> None:
    render = render_stack("prod")
    component = render.one("pg-dr:index:CnpgRoles")
    patch = render.one(CLUSTER + "Patch", "blumeops-pg")  # ArgoCD owns the Cluster: pg-dr patches its roles
    secret = render.one(SECRET, "blumeops-pg-borgmatic")
    assert patch.parent == component.urn and secret.parent == component.urn
    assert secret.urn in patch.dependencies

    role = next(r for r in patch.inputs["spec"]["managed"]["roles"] if r["name"] == "borgmatic")
    assert role == {
        "name": "borgmatic",
        "login": True,
        "inRoles": ["pg_read_all_data"],
        "connectionLimit": -1,
        "ensure": "present",
        "inherit": True,
        "passwordSecret": {"name": "blumeops-pg-borgmatic"},
    }
    assert secret.inputs["type"] == "kubernetes.io/basic-auth"
    assert secret.inputs["metadata"]["labels"]["cnpg.io/reload"] == "true"
    assert isinstance(secret.inputs["stringData"], Secret)
    assert reveal(secret.inputs["stringData"])["username"] == "borgmatic"


def test_unprotected_cluster_is_still_retained_on_delete() -> None:
    config = stack()
    config["pg-dr:cluster"]["protect"] = False
    cluster = render_config(config).one(CLUSTER)
    assert not cluster.protect and cluster.retain_on_delete


def test_database_role_mode_one_resource_per_role() -> None:
    config = stack()
    config["pg-dr:cluster"]["mode"] = "databaseRole"
    config["pg-dr:cluster"]["roles"].append({"name": "reporting", "login": True, "disablePassword": True})
    render = render_config(config)
    assert render.of_type(CLUSTER) == []
    roles = {r.inputs["spec"]["name"]: r for r in render.of_type(DATABASE_ROLE)}
    assert set(roles) == {"borgmatic", "reporting"}
    secret = render.one(SECRET, "blumeops-pg-borgmatic")
    assert secret.urn in roles["borgmatic"].dependencies
    assert roles["borgmatic"].inputs["spec"]["cluster"] == {"name": "blumeops-pg"}
    assert roles["reporting"].inputs["spec"]["disablePassword"] is True
    assert "passwordSecret" not in roles["reporting"].inputs["spec"]
    assert all(r.retain_on_delete for r in roles.values())


def test_absent_role_passes_through_without_secret() -> None:
    config = stack()
    config["pg-dr:cluster"]["roles"].append(
        {"name": "legacy", "ensure": "absent", "password": "op://blumeops/legacy/db-password"}
    )
    render = render_config(config)
    role = next(r for r in render.one(CLUSTER).inputs["spec"]["managed"]["roles"] if r["name"] == "legacy")
    assert role["ensure"] == "absent" and "passwordSecret" not in role
    assert [s.name for s in render.of_type(SECRET)] == ["blumeops-pg-borgmatic"]


def _resolved_prod() -> tuple[Render, FakeOnePassword]:
    op = FakeOnePassword(
        {
            "blumeops": {
                "borgmatic": {"db-password": KNOWN_PASSWORD},
                "eblume": {"db-password": "eblume-Sup3r-secret"},
            }
        }
    )
    return render_stack("prod", resolve_secrets=True, onepassword_client=op.factory), op


def test_secret_values_appear_only_where_marked_secret() -> None:
    render, op = _resolved_prod()
    assert [c for c, _ in op.calls].count("resolve_all") == 1
    secrets = {KNOWN_PASSWORD, "eblume-Sup3r-secret"}
    assert secrets <= render.secret_values(), "the known passwords reach the resources, marked secret"
    for r in render.resources:
        for where, value in (("inputs", r.inputs), ("outputs", r.outputs)):
            for path, text in iter_plain_strings(value):
                assert not any(s in text for s in secrets), f"{r.type} {r.name} {where}.{path} leaks a secret"
    for path, text in iter_plain_strings(render.stack_outputs):
        assert not any(s in text for s in secrets), f"stack output {path} leaks a secret"


def test_resolved_render_writes_no_secret(tmp_path: Path) -> None:
    render, _ = _resolved_prod()
    written = write_render(render, tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} >= {
        "graph.json",
        "k8s/cluster-blumeops-pg.yaml",
        "k8s/secret-blumeops-pg-borgmatic.yaml",
    }
    for path in written:
        text = path.read_text()
        assert KNOWN_PASSWORD not in text and "eblume-Sup3r-secret" not in text, path


def test_write_render_refuses_a_leaking_file(tmp_path: Path) -> None:
    render, _ = _resolved_prod()
    component = render.one("pg-dr:index:CnpgRoles")
    component.outputs["renderFiles"] = {"leak.txt": f"password={KNOWN_PASSWORD}"}
    with pytest.raises(RenderError, match=r"refusing to write leak\.txt"):
        write_render(render, tmp_path)
    assert not (tmp_path / "leak.txt").exists()


def test_cli_render_prod_offline_under_three_seconds(tmp_path: Path) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "offline.cli", "render", "prod", "--out", str(tmp_path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # no credentials, no Pulumi CLI
        timeout=60,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 3.0, f"render took {elapsed:.2f} s"
    secret = yaml.safe_load((tmp_path / "k8s/secret-blumeops-pg-borgmatic.yaml").read_text())
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["stringData"] == {"username": "borgmatic", "password": "[redacted]"}
    assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"
    cluster = yaml.safe_load((tmp_path / "k8s/cluster-blumeops-pg.yaml").read_text())
    role = next(r for r in cluster["spec"]["managed"]["roles"] if r["name"] == "borgmatic")
    assert role["passwordSecret"] == {"name": "blumeops-pg-borgmatic"}


def test_cli_reports_config_errors_by_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((PROJECT_DIR / "__main__.py").read_text())
    config = stack()
    config["pg-dr:cluster"]["roles"][0]["connectionLimit"] = -3
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": config}))
    code = main(["--project-dir", str(tmp_path), "render", "bad", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "pg-dr:cluster.roles[0].connectionLimit: must be >= -1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_stack_file_loading_matches_the_cli() -> None:
    """Bare keys get the project namespace, provider keys stay, objects travel as JSON, secure is secret."""
    from offline.engine import qualify_config

    config, secret_keys = qualify_config(
        "pg-dr",
        {"cluster": {"name": "x"}, "kubernetes:context": "kind", "flag": True, "token": {"secure": "AAAA"}},
    )
    assert config["pg-dr:cluster"] == '{"name":"x"}'
    assert config["kubernetes:context"] == "kind"
    assert config["pg-dr:flag"] == "true"
    assert secret_keys == ["pg-dr:token"]
    assert BASE  # the shared base config stays importable for other suites


def test_unknown_top_level_key_fails_under_the_program() -> None:
    """A misspelled section is an error, not silently ignored; a config: reference's key is allowed."""
    config = stack()
    config["pg-dr:clustr"] = {"name": "typo"}
    with pytest.raises(Exception, match=r"pg-dr:clustr: unknown key"):
        render_config(config)
    config = stack()
    config["pg-dr:secrets"] = {"provider": "config"}
    config["pg-dr:cluster"]["roles"][0]["password"] = "config:borgmaticPassword"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "config:borgmaticPassword"
    config["pg-dr:borgmaticPassword"] = {"secure": "v1:AAAA"}
    assert render_config(config).one(SECRET).name == "blumeops-pg-borgmatic"


def _config_ref_stack(value: object) -> dict:
    config = stack()
    config["pg-dr:secrets"] = {"provider": "config"}
    config["pg-dr:cluster"]["roles"][0]["password"] = "config:borgmaticPassword"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "config:borgmaticPassword"
    config["pg-dr:borgmaticPassword"] = value
    return config


def test_config_references_need_secret_config() -> None:
    with pytest.raises(Exception, match=r"pg-dr:borgmaticPassword is encrypted and only the Pulumi CLI"):
        render_config(_config_ref_stack({"secure": "v1:AAAA"}), resolve_secrets=True)
    with pytest.raises(Exception, match=r"pg-dr:borgmaticPassword is stored in plaintext"):
        render_config(_config_ref_stack("plaintext-password"), resolve_secrets=True)


def assert_same_config_registers_identical_inputs(stack_name: str, project_dir: Path = PROJECT_DIR) -> None:
    """Render the stack twice with every secret it references answered by fakes; compare everything."""
    fakes = fake_secrets_for_file(project_dir / f"Pulumi.{stack_name}.yaml")

    def snapshot() -> tuple[dict[str, tuple], str]:
        render = render_stack(
            stack_name,
            project_dir=project_dir,
            resolve_secrets=fakes.resolvable,
            onepassword_client=fakes.onepassword.factory,
            environ=fakes.environ,
        )
        by_urn = {
            r.urn: (r.parent, sorted(r.dependencies), r.protect, r.retain_on_delete, r.options, reveal(r.inputs))
            for r in render.resources
        }
        return by_urn, json.dumps(graph(render))

    (first, first_graph), (second, second_graph) = snapshot(), snapshot()
    assert first and first == second
    assert first_graph == second_graph, "graph.json must be byte-identical for the same config"


@pytest.mark.parametrize("stack_name", [_stack_name(p) for p in STACK_FILES])
def test_same_config_registers_identical_inputs(stack_name: str) -> None:
    """A second `pulumi up` changes nothing: every resource, option and input (secrets included) is the same."""
    assert_same_config_registers_identical_inputs(stack_name)


def test_a_users_own_stack_with_its_own_vaults_passes_the_stack_tests(tmp_path: Path) -> None:
    """A new homelab's stack (its own 1Password vault and variables) passes what every Pulumi.*.yaml must."""
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_text((PROJECT_DIR / name).read_text())
    text = (PROJECT_DIR / "Pulumi.prod.yaml").read_text().replace("op://blumeops/", "op://homelab/")
    text = text.replace("policyFile: policy/tailnet.hujson", f"policyFile: {PROJECT_DIR / 'policy' / 'tailnet.hujson'}")
    assert "op://homelab/eblume/db-password" in text
    (tmp_path / "Pulumi.homelab.yaml").write_text(text)
    assert_same_config_registers_identical_inputs("homelab", tmp_path)


def test_a_render_closes_every_event_loop_it_creates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's mock monitor opened a loop per RPC thread and left it to the garbage collector."""
    import asyncio

    created: list[asyncio.AbstractEventLoop] = []
    new_event_loop = asyncio.new_event_loop

    def recording() -> asyncio.AbstractEventLoop:
        created.append(new_event_loop())
        return created[-1]

    monkeypatch.setattr(asyncio, "new_event_loop", recording)
    try:
        render_stack("dev")
        assert created and [loop for loop in created if not loop.is_closed()] == []
    finally:
        for loop in created:
            if not loop.is_closed() and not loop.is_running():
                loop.close()


def test_renders_end_without_event_loop_noise(tmp_path: Path) -> None:
    """About one render in five printed `Exception ignored in BaseEventLoop.__del__` at exit: 20 renders, none."""

    def render(i: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "offline.cli", "render", "dev", "--out", str(tmp_path / str(i))],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for run in pool.map(render, range(20)):
            assert run.returncode == 0, run.stderr
            assert "Exception ignored" not in run.stderr, run.stderr
