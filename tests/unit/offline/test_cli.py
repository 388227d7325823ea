"""The ``pg-dr`` command finds its project like ``pulumi``, checks stacks without writing, knows its version."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from components.project import PROJECT_DIR
from offline import cli
from offline.cli import main
from tests.unit.offline.conftest import Project, project_stack

CHECKOUT = Path(__file__).resolve().parents[3]


def _cluster_name(out: Path) -> str:
    graph = json.loads((out / "graph.json").read_text())
    return next(r["name"] for r in graph["resources"] if r["type"].endswith(":Cluster"))


def test_render_finds_the_project_from_a_subdirectory(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not the install location's stacks: the nearest Pulumi.yaml above the working directory."""
    config = project_stack()
    config["pg-dr:cluster"]["name"] = "elsewhere-pg"
    project.write_stack("dev", config)
    (project.root / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(project.root / "deep" / "er")
    assert main(["render", "dev", "--out", str(tmp_path / "out")]) == 0
    assert _cluster_name(tmp_path / "out") == "elsewhere-pg"  # the clone's dev stack has dev-pg
    assert f"pg-dr: project {project.root}\n" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["before", "after"])
def test_project_dir_before_or_after_the_subcommand(
    where: str, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project_stack()
    config["pg-dr:cluster"]["name"] = "flagged-pg"
    project.write_stack("dev", config)
    monkeypatch.chdir(PROJECT_DIR)  # a different project is the nearest: the flag wins
    out = tmp_path / "out"
    flag = ["--project-dir", str(project.root)]
    argv = (
        [*flag, "render", "dev", "--out", str(out)]
        if where == "before"
        else ["render", "dev", *flag, "--out", str(out)]
    )
    assert main(argv) == 0
    assert _cluster_name(out) == "flagged-pg"


def test_no_pulumi_yaml_anywhere_up_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    if any((d / "Pulumi.yaml").is_file() for d in (tmp_path, *tmp_path.parents)):
        pytest.fail(f"{tmp_path} is inside a Pulumi project; the test needs a directory outside any")
    assert main(["check", "dev"]) == 2
    err = capsys.readouterr().err
    assert err == f"pg-dr: error: no Pulumi.yaml in {tmp_path} or any parent directory: " + (
        "run pg-dr inside a Pulumi project or pass --project-dir\n"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["__main__.py"], "is not a Pulumi project: it has no Pulumi.yaml"),
        (["Pulumi.yaml"], "has Pulumi.yaml but no __main__.py: pg-dr runs a Python program"),
    ],
)
def test_a_project_dir_missing_a_file_is_one_line_exit_2_without_traceback(
    files: list[str], message: str, tmp_path: Path
) -> None:
    for name in files:
        (tmp_path / name).write_text((PROJECT_DIR / name).read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "offline.cli", "--project-dir", str(tmp_path), "render", "dev", "--out", "x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(CHECKOUT)},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"pg-dr: error: {tmp_path} {message}\n"
    assert not (tmp_path / "x").exists()


def test_a_missing_project_dir_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "dev", "--project-dir", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == (
        f"pg-dr: error: project directory {tmp_path / 'nope'} does not exist or is not a directory\n"
    )


def test_found_project_without_a_program_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: other\nruntime: python\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert main(["check", "dev"]) == 2
    assert "has Pulumi.yaml but no __main__.py" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- check
def test_check_validates_and_writes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_stack("dev")
    project.write_stack("prod")
    before = sorted(p.name for p in project.root.iterdir())
    monkeypatch.chdir(project.root)
    assert main(["check", "dev", "prod"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0:2] for line in out] == [["ok", " stack dev"], ["ok", " stack prod"]]
    assert sorted(p.name for p in project.root.iterdir()) == before


def test_check_fails_with_exit_2_naming_the_key_and_the_stack(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = project_stack()
    bad["pg-dr:cluster"]["roles"][0]["connectionLimit"] = -3
    project.write_stack("bad", bad)
    project.write_stack("good")
    monkeypatch.chdir(project.root)
    assert main(["check", "good", "bad"]) == 2
    captured = capsys.readouterr()
    assert "ok: stack good" in captured.out and "stack bad" not in captured.out
    assert "pg-dr: error: stack bad:" in captured.err
    assert "pg-dr:cluster.roles[0].connectionLimit: must be >= -1" in captured.err


def test_check_of_a_missing_stack_file_is_exit_2(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    assert main(["check", "staging"]) == 2
    assert "no stack file Pulumi.staging.yaml" in capsys.readouterr().err


def test_check_runs_the_writers_too(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A render that could not be written (here: a file escaping the output) fails check as well."""
    project.write_stack("dev")
    monkeypatch.chdir(project.root)
    real = cli.render_stack

    def escaping(*args: object, **kwargs: object):
        render = real(*args, **kwargs)
        next(r for r in render.resources if r.type == "pg-dr:index:CnpgRoles").outputs["renderFiles"] = {
            "../escape.txt": "x"
        }
        return render

    monkeypatch.setattr(cli, "render_stack", escaping)
    assert main(["check", "dev"]) == 2
    assert "escapes the output directory" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- version
def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"pg-dr {metadata.version('pg-dr')}\n"


def test_version_falls_back_to_pyproject_when_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    expected = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
    assert cli.version() == expected


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "required: command" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- event loops
def test_no_unclosed_event_loop_survives_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    """The engine closes every loop it or the SDK's mock monitor opens (offline/engine.py _on_own_loop)."""
    assert main(["check", "dev"]) == 0
    left = [o for o in gc.get_objects() if isinstance(o, asyncio.BaseEventLoop) and not o.is_closed()]
    assert left == []


@pytest.mark.parametrize("command", [["check", "dev"], ["diff", "dev", "dev"], ["render", "dev", "--out", "out"]])
def test_a_crashing_program_is_exit_2_with_its_own_frames(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, never 1 (which diff means "they differ"); the error and the program's lines, not the SDK's."""
    (tmp_path / "Pulumi.yaml").write_text("name: other\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import json\n\njson.loads('{broken')\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1].startswith("pg-dr: error: the program failed: JSONDecodeError: ")
    assert err[2:] == [f'  File "{tmp_path / "__main__.py"}", line 3, in <module>', "    json.loads('{broken')"]
    assert not (tmp_path / "out").exists()


def test_a_missing_stack_lists_the_existing_ones(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_stack("dev")
    project.write_stack("prod")
    monkeypatch.chdir(project.root)
    assert main(["check", "staging"]) == 2
    assert (
        f"no stack file Pulumi.staging.yaml in {project.root} (the stacks here: dev, prod; "
        "`pulumi stack init staging` and a Pulumi.staging.yaml create one)"
    ) in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["a", "b"])
def test_a_diff_error_names_the_invalid_stack(
    bad: str, project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project_stack()
    config["pg-dr:cluster"]["roles"][0]["connectionLimit"] = -5
    project.write_stack("a", config if bad == "a" else None)
    project.write_stack("b", config if bad == "b" else None)
    monkeypatch.chdir(project.root)
    assert main(["diff", "a", "b"]) == 2
    assert f"pg-dr: error: stack {bad}: invalid stack configuration (1 problem):" in capsys.readouterr().err
