"""``--project-dir`` runs the project's own code, all of it, or refuses; a crash shows the project's frames."""

from __future__ import annotations

import shutil
import site
import sys
from pathlib import Path

import pytest
import yaml

from components.project import PROJECT_DIR
from offline import cli
from offline.cli import main

FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "pyproject.toml")
DIRS = ("components", "offline", "policy")


def _checkout_copy(root: Path, *, offline: bool = True) -> Path:
    root.mkdir()
    for name in FILES:
        shutil.copy2(PROJECT_DIR / name, root / name)
    for name in DIRS:
        if name != "offline" or offline:
            shutil.copytree(PROJECT_DIR / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _inject(copy: Path) -> None:
    stack = copy / "components" / "stack.py"
    text = stack.read_text()
    marker = "def build_stack("
    head, tail = text.split(marker, 1)
    signature, body = tail.split("\n", 1)
    stack.write_text(f'{head}{marker}{signature}\n    raise RuntimeError("injected into the copy")\n{body}')


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_second_checkout_runs_its_own_components(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    copy = _checkout_copy(tmp_path / "copy")
    _inject(copy)
    monkeypatch.chdir(PROJECT_DIR)  # the installed checkout as working directory must not shadow the copy
    flag = ["--project-dir", str(copy)]
    argv = [*flag, "check", "dev"] if where == "before" else ["check", "dev", *flag]
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert f"pg-dr: project {copy} has its own code: running {copy}/offline/cli.py" in err
    assert "pg-dr: error: the program failed: RuntimeError: injected into the copy" in err
    assert f'File "{copy / "components" / "stack.py"}"' in err


def test_a_second_checkout_renders_with_its_own_code(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    copy = _checkout_copy(tmp_path / "copy")
    stack = yaml.safe_load((copy / "Pulumi.dev.yaml").read_text())
    stack["config"]["pg-dr:cluster"]["name"] = "copy-pg"
    (copy / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    assert main(["--project-dir", str(copy), "render", "dev", "--out", str(tmp_path / "out")]) == 0
    assert "copy-pg" in (tmp_path / "out" / "graph.json").read_text()
    assert "rendered stack dev" in capfd.readouterr().out


def test_a_checkout_with_components_but_no_pg_dr_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = _checkout_copy(tmp_path / "copy", offline=False)
    assert main(["--project-dir", str(copy), "check", "dev"]) == 2
    err = capsys.readouterr().err
    assert f"pg-dr: error: {copy} has its own components/ but no offline/cli.py" in err
    assert "run the pg-dr of that checkout instead" in err


def test_a_delegated_run_that_still_loads_other_code_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _checkout_copy(tmp_path / "copy")
    monkeypatch.setenv(cli.DELEGATED, str(copy))
    assert main(["--project-dir", str(copy), "check", "dev"]) == 2
    assert f"{copy}: could not run its own components/" in capsys.readouterr().err


def test_a_crash_shows_the_projects_frames_not_its_virtualenvs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The virtualenv often lives inside the project (.venv): its packages' frames are not the project's."""
    assert any(Path(p).is_relative_to(PROJECT_DIR) for p in site.getsitepackages()), "the venv is in the checkout"

    def project_code() -> None:
        yaml.safe_load("[unclosed")  # raises inside the venv's yaml package

    try:
        project_code()
    except yaml.YAMLError as exc:
        cli._report_crash(exc, PROJECT_DIR)
    err = capsys.readouterr().err
    assert "in project_code" in err and __file__ in err
    assert "site-packages" not in err and sys.prefix not in err
