"""Pulumi.yaml declares every pg-dr section as an object; the engine checks declarations as the CLI does."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.config.base import SECTIONS
from components.project import PROJECT_DIR
from offline.cli import main
from offline.declarations import apply_project_config, project_declarations, type_problem
from offline.engine import RenderError, render_config
from offline.stackfile import StackFileError, parse_yaml
from tests.support.stacks import stack


def test_every_section_is_declared_as_an_object_with_a_description() -> None:
    project = parse_yaml((PROJECT_DIR / "Pulumi.yaml").read_bytes(), "Pulumi.yaml")
    declarations = project_declarations(project)
    assert set(declarations) == {f"pg-dr:{s}" for s in SECTIONS}
    for section in SECTIONS:
        decl = project["config"][section]
        assert decl["type"] == "object" and decl["description"] and decl["default"] == {}
    assert project["requiredPulumiVersion"] == ">=3.187.0"
    assert "cannot declare" not in (PROJECT_DIR / "Pulumi.yaml").read_text()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("blumeops-pg", "pg-dr:cluster must be of type object (declared in Pulumi.yaml), not a string"),
        (["blumeops-pg"], "pg-dr:cluster must be of type object (declared in Pulumi.yaml), not a list"),
        (3, "pg-dr:cluster must be of type object (declared in Pulumi.yaml), not a number"),
        (None, "pg-dr:cluster must be of type object (declared in Pulumi.yaml), not empty (null)"),
    ],
)
def test_a_section_of_another_type_is_refused_like_the_cli(
    value: object, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((PROJECT_DIR / "__main__.py").read_text())
    config = stack()
    config["pg-dr:cluster"] = value
    (tmp_path / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": config}))
    code = main(["--project-dir", str(tmp_path), "render", "t", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"Pulumi.t.yaml: {expected}" in err and "Traceback" not in err


def test_an_empty_section_is_an_absent_one() -> None:
    config = stack()
    config["pg-dr:cluster"] = {}
    for db in config["pg-dr:backup"]["databases"]:
        db.pop("cluster", None)
    render = render_config(config)
    assert not [r for r in render.resources if r.type == "pg-dr:index:CnpgRoles"]


def _project(config: dict) -> dict:
    return {"name": "pg-dr", "runtime": "python", "config": config}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"backup": {"type": "object", "descripton": "x"}},
            "unknown property 'descripton' (did you mean 'description'?)",
        ),
        ({"backup": {"type": "map"}}, "type must be one of string, integer, boolean, array, object, not 'map'"),
        ({"hosts": {"type": "array"}}, "type array needs items"),
        ({"backup": {"type": "object", "default": "x"}}, "the default is not of type object"),
        ({"backup": {"default": {}, "value": {}}}, "has both default and value"),
    ],
)
def test_bad_declarations_are_refused(config: dict, expected: str) -> None:
    with pytest.raises(StackFileError) as caught:
        project_declarations(_project(config))
    assert expected in str(caught.value)


def test_declared_keys_need_a_value_or_default_and_secrets_must_be_encrypted() -> None:
    declarations = project_declarations(
        _project({"region": {"type": "string"}, "token": {"type": "string", "secret": True}, "n": 2})
    )
    with pytest.raises(StackFileError, match=r"missing configuration value\(s\) pg-dr:region"):
        apply_project_config({"token": {"secure": "v1:x"}}, declarations, "pg-dr", "Pulumi.t.yaml")
    with pytest.raises(StackFileError, match="pg-dr:token must be encrypted"):
        apply_project_config({"region": "x", "token": "plain"}, declarations, "pg-dr", "Pulumi.t.yaml")
    merged = apply_project_config({"region": "x", "pg-dr:token": {"secure": "v1:x"}}, declarations, "pg-dr", "P")
    assert merged == {"pg-dr:region": "x", "pg-dr:token": {"secure": "v1:x"}, "pg-dr:n": 2}


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        (2, "integer", True),
        ("2", "integer", True),
        (2.0, "integer", True),
        ("2.5", "integer", False),
        (True, "integer", False),
        ("true", "boolean", True),
        ("yes", "boolean", False),
        (7, "string", True),
        ({"a": 1}, "string", False),
        ({"secure": "v1:x"}, "string", True),
        ({"secure": "v1:x"}, "object", False),
    ],
)
def test_declared_types_as_the_cli_checks_them(value: object, kind: str, ok: bool) -> None:
    assert (type_problem(value, kind) is None) is ok


def test_render_error_for_a_broken_project_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: pg-dr\nconfig:\n  backup: {type: map}\n")
    with pytest.raises(RenderError, match=r"Pulumi\.yaml: config backup: type must be one of"):
        render_config(stack(), project_dir=tmp_path)
