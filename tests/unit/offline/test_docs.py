"""The documentation names only files that exist, and keeps the sections other changes fill in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[3]
PATH = re.compile(r"\b(?:components|offline|policy|tests|bench|\.ci)/[A-Za-z0-9_./-]*[A-Za-z0-9_/]")


@pytest.mark.parametrize("doc", ["README.md", "bench/README.md", "docs/brownfield.md"])
def test_every_repository_path_named_exists(doc: str) -> None:
    text = (CHECKOUT / doc).read_text()
    named = {m.group(0) for m in PATH.finditer(text)}
    assert "offline/engine.py" in named or doc != "README.md"
    missing = sorted(p for p in named if not (CHECKOUT / p).exists())
    assert missing == [], f"{doc} names files that do not exist: {missing}"


def test_readme_layout_lists_the_build_files_and_test_support() -> None:
    layout = (CHECKOUT / "README.md").read_text().split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    for entry in ("Makefile", "pyproject.toml", "requirements.txt", "constraints.txt", ".ci/run", "tests/support/"):
        assert entry in layout, entry
        assert (CHECKOUT / entry).exists(), entry


def test_readme_render_table_lists_every_kind_of_file_render_writes() -> None:
    readme = (CHECKOUT / "README.md").read_text()
    table = readme.split("## Reviewing a stack offline", 1)[1].split("\n## ", 1)[0]
    snapshot = CHECKOUT / "tests" / "unit" / "offline" / "renders" / "dev"
    for path in sorted(
        p.relative_to(snapshot).as_posix().removesuffix(".snap") for p in snapshot.rglob("*") if p.is_file()
    ):
        name = path.split("/")[-1]
        kind = {
            "graph.json": "`graph.json`",
            "summary.md": "`summary.md`",
            ".pg-dr-render": "`.pg-dr-render`",
            "restore-drill.sh": "restore-drill.sh",
            "policy.hujson": "`tailnet/policy.hujson`",
        }.get(name)
        if kind is None:
            kind = {"k8s": "`k8s/<kind>-<name>.yaml`"}.get(path.split("/")[0])
        if kind is None:
            kind = "`hosts/<host>/scripts/<command>.sh`" if "/scripts/" in path else "`hosts/<host>/borgmatic.yaml`"
        assert kind in table, f"{path}: the render table has no row for it"


def test_readme_keeps_the_brownfield_heading() -> None:
    assert "\n## Deploying onto an existing host\n" in (CHECKOUT / "README.md").read_text()


def test_brownfield_doc_exists_where_the_prod_stack_points() -> None:
    assert "docs/brownfield.md" in (CHECKOUT / "Pulumi.prod.yaml").read_text()
    doc = (CHECKOUT / "docs" / "brownfield.md").read_text()
    for heading in ("## The tailnet policy", "### What an import really does", "## Step by step"):
        assert f"\n{heading}" in doc, heading


def test_changelog_and_license() -> None:
    changelog = (CHECKOUT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n")
    assert "\n## [Unreleased]\n" in changelog and "\n## [0.1.0]" in changelog
    assert changelog.index("## [Unreleased]") < changelog.index("## [0.1.0]")
    license_ = (CHECKOUT / "LICENSE").read_text()
    assert license_.startswith("MIT License\n") and "pg-dr contributors" in license_
