"""``pg-dr render`` owns its ``--out`` directory: replaced as a whole, never mixed, never someone else's."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.cli import main
from offline.engine import RenderError
from offline.output import MARKER, write_render
from tests.support.render import render_config
from tests.unit.offline.conftest import Project, project_stack


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _two_roles() -> dict:
    config = project_stack()
    config["pg-dr:cluster"]["roles"].append({"name": "eblume", "login": True, "password": "op://blumeops/eblume/pw"})
    return config


def test_a_removed_role_leaves_no_stale_manifest(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    out = tmp_path / "renders" / "dev"
    project.write_stack("dev", _two_roles())
    assert main(["render", "dev", "--out", str(out)]) == 0
    assert "k8s/secret-blumeops-pg-eblume.yaml" in _files(out)
    project.write_stack("dev", project_stack())  # the role is removed
    assert main(["render", "dev", "--out", str(out)]) == 0
    files = _files(out)
    assert "k8s/secret-blumeops-pg-eblume.yaml" not in files
    assert "k8s/secret-blumeops-pg-borgmatic.yaml" in files and MARKER in files
    assert [p.name for p in out.parent.iterdir()] == ["dev"], "no temporary directory is left beside it"


def test_another_stack_into_the_same_out_replaces_it(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    out = tmp_path / "render"
    project.write_stack("one", _two_roles())
    other = project_stack()
    other["pg-dr:cluster"]["name"] = "other-pg"
    project.write_stack("two", other)
    assert main(["render", "one", "--out", str(out)]) == 0
    assert main(["render", "two", "--out", str(out)]) == 0
    assert not any("blumeops-pg" in f for f in _files(out)), "files of stack one mixed into stack two's render"


@pytest.mark.parametrize("existing", ["a file", "notes.txt in it"])
def test_refuses_an_out_it_did_not_write(
    existing: str,
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(project.root)
    project.write_stack("dev")
    out = tmp_path / "mine"
    if existing == "a file":
        out.write_text("precious\n")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("precious\n")
    assert main(["render", "dev", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    if existing == "a file":
        assert f"pg-dr: error: --out {out}: not a directory" in err
        assert out.read_text() == "precious\n"
    else:
        assert f"pg-dr: error: refusing to replace {out}: it is not empty and pg-dr render did not write it" in err
        assert _files(out) == {"notes.txt"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "project"], "nothing written beside it"


def test_an_empty_directory_is_taken_and_marked(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    project.write_stack("dev")
    out = tmp_path / "empty"
    out.mkdir(mode=0o750)
    assert main(["render", "dev", "--out", str(out)]) == 0
    assert (out / MARKER).read_text().startswith("This directory is written by `pg-dr render`")
    assert out.stat().st_mode & 0o777 == 0o750, "the directory keeps its mode"


def test_a_failed_render_keeps_the_previous_one(tmp_path: Path) -> None:
    out = tmp_path / "render"
    write_render(render_config(project_stack()), out)
    before = {f: (out / f).read_bytes() for f in _files(out)}
    broken = render_config(project_stack())
    next(r for r in broken.resources if r.type == "pg-dr:index:CnpgRoles").outputs["renderFiles"] = {"/etc/passwd": "x"}
    with pytest.raises(RenderError, match="escapes the output directory"):
        write_render(broken, out)
    assert {f: (out / f).read_bytes() for f in _files(out)} == before
    assert [p.name for p in tmp_path.iterdir()] == ["render"]


def test_the_marker_name_is_reserved(tmp_path: Path) -> None:
    render = render_config(project_stack())
    next(r for r in render.resources if r.type == "pg-dr:index:CnpgRoles").outputs["renderFiles"] = {MARKER: "x"}
    with pytest.raises(RenderError, match="escapes the output directory"):
        write_render(render, tmp_path / "out")
