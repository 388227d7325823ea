"""A section or resource the previous render had and this one has not is said loudly (offline/previous.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.cli import main
from tests.unit.offline.conftest import Project, project_stack


def _without(section: str) -> dict:
    config = project_stack()
    del config[section]
    return config


def test_check_says_loudly_that_a_removed_backup_section_removes_pg_drs_files_from_the_host(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_stack("t")
    previous = tmp_path / "last"
    assert main(["--project-dir", str(project.root), "render", "t", "--out", str(previous)]) == 0
    capsys.readouterr()
    project.write_stack("t", _without("pg-dr:backup"))
    assert main(["--project-dir", str(project.root), "check", "t", "--previous", str(previous)]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith(", 1 warning"), (out, err)  # never "0 warnings"
    warning = next(line for line in err.splitlines() if line.startswith("warning: REMOVED: pg-dr:backup is gone"))
    assert f"the previous render ({previous / 'graph.json'}) had it" in warning
    assert "deletes pg-dr:index:BorgmaticHost" in warning
    assert "on indri.tail8d86e.ts.net it takes back what pg-dr delivered (" in warning
    assert "/Users/erichblume/.config/borgmatic.d/pg-dr.yaml" in warning and "/Users/erichblume/.pgpass" in warning
    assert "docs/configuration.md#retiring-a-section-or-a-host" in warning


def test_render_compares_with_the_last_render_in_out_and_puts_it_in_the_summary(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "render"
    project.write_stack("t")
    assert main(["--project-dir", str(project.root), "render", "t", "--out", str(out)]) == 0
    project.write_stack("t", _without("pg-dr:backup"))
    assert main(["--project-dir", str(project.root), "render", "t", "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    warnings = summary.split("## Warnings\n", 1)[1].split("\n## ", 1)[0]
    assert "- REMOVED: pg-dr:backup is gone" in warnings
    # the next render compares with this one: nothing more is gone
    capsys.readouterr()
    assert main(["--project-dir", str(project.root), "render", "t", "--out", str(out)]) == 0
    assert "nothing removed since the previous render" in capsys.readouterr().err
    assert "REMOVED" not in (out / "summary.md").read_text()


def test_check_defaults_to_the_projects_last_render_and_names_a_lone_removed_resource(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project_stack()
    config["pg-dr:cluster"]["roles"].append({"name": "reporting", "login": True, "password": "op://v/reporting/pw"})
    project.write_stack("t", config)
    assert main(["--project-dir", str(project.root), "render", "t", "--out", str(project.root / "render" / "t")]) == 0
    project.write_stack("t")
    capsys.readouterr()
    assert main(["--project-dir", str(project.root), "check", "t"]) == 0
    err = capsys.readouterr().err
    assert "warning: REMOVED: 1 resource of the previous render" in err
    assert "kubernetes:core/v1:Secret blumeops-pg-reporting" in err
    # --previous none: no comparison at all
    assert main(["--project-dir", str(project.root), "check", "t", "--previous", "none"]) == 0
    out, err = capsys.readouterr()
    assert "REMOVED" not in err and out.strip().endswith(", 0 warnings")


def test_a_previous_that_is_no_graph_is_an_error(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_stack("t")
    assert main(["--project-dir", str(project.root), "check", "t", "--previous", str(tmp_path)]) == 2
    assert f"--previous {tmp_path}: no graph.json there" in capsys.readouterr().err
    (tmp_path / "graph.json").write_text("[1]")
    assert main(["--project-dir", str(project.root), "check", "t", "--previous", str(tmp_path)]) == 2
    assert "not a pg-dr graph" in capsys.readouterr().err


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_repository_stacks_have_removed_nothing_since_the_committed_snapshot(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = Path(__file__).resolve().parent / "renders" / stack
    assert main(["check", stack, "--previous", str(snapshot)]) == 0
    err = capsys.readouterr().err
    assert "REMOVED" not in err
    assert f"nothing removed since the previous render {snapshot / 'graph.json.snap'}" in err
