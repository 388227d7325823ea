"""The documentation matches the code: ``make docs-check`` finds nothing, and it does catch each kind of drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import docs_check

CHECKOUT = Path(__file__).resolve().parents[3]
PATH = re.compile(r"\b(?:components|offline|policy|tests|bench|\.ci)/[A-Za-z0-9_./-]*[A-Za-z0-9_/]")


def test_docs_check_finds_no_problem() -> None:
    """Every figure, output, key, path, link and make target of README.md and docs/ is the code's."""
    assert docs_check.problems() == []


def test_make_docs_check_is_a_target() -> None:
    assert "docs-check" in docs_check._make_targets()


def test_docs_check_catches_a_changed_count(tmp_path: Path) -> None:
    readme = (
        (CHECKOUT / "README.md")
        .read_text()
        .replace("rendered stack dev: 27 resources", "rendered stack dev: 15 resources")
    )
    (tmp_path / "README.md").write_text(readme)
    found = list(docs_check.output_problems(tmp_path / "README.md"))
    assert len(found) == 1 and "the output of `pg-dr render dev --out render/dev` changed" in found[0]
    assert "rendered stack dev: 27 resources" in found[0]  # what it prints now


def test_docs_check_catches_a_missing_extra_or_stale_config_key() -> None:
    text = (CHECKOUT / "docs" / "configuration.md").read_text()
    assert list(docs_check.config_problems(text)) == []
    missing = text.replace("| `roles[].validUntil` |", "| `roles[].validUntilX` |")
    assert list(docs_check.config_problems(missing)) == [
        "docs/configuration.md: pg-dr:cluster.roles[].validUntil is accepted but has no row",
        "docs/configuration.md: pg-dr:cluster.roles[].validUntilX has a row but is no key the config accepts",
    ]
    stale = text.replace("| `loginWaitSeconds` | `300` |", "| `loginWaitSeconds` | `600` |")
    assert list(docs_check.config_problems(stale)) == [
        "docs/configuration.md: pg-dr:backup.loginWaitSeconds defaults to `300`, the table says '`600`'"
    ]


def test_docs_check_excerpts_keep_order_and_skip_only_at_dots() -> None:
    actual = ["a", "b", "c", "d"]
    assert docs_check._excerpt_missing(["a", "b", "...", "d"], actual) is None
    assert docs_check._excerpt_missing(["...", "c", "d"], actual) is None
    assert docs_check._excerpt_missing(["a", "c"], actual) == "c"  # not adjacent without "..."
    assert docs_check._excerpt_missing(["c", "...", "a"], actual) == "a"


def test_docs_check_refuses_creating_the_dev_namespace_by_hand(tmp_path: Path) -> None:
    """The dev stack creates pg-dr-dev (createNamespace): creating it by hand made the first up fail."""
    doc = tmp_path / "dev.md"
    doc.write_text("```sh\nkind create cluster --name pg-dr\nkubectl create namespace pg-dr-dev\n```\n")
    assert [p.split(": ", 1)[1] for p in docs_check.dev_stack_problems([doc])] == [
        "creates namespace pg-dr-dev by hand, but Pulumi.dev.yaml creates it (createNamespace: true): the first "
        "up would fail with AlreadyExists"
    ]


def test_docs_check_catches_a_dangling_link_and_anchor(tmp_path: Path) -> None:
    doc = CHECKOUT / "docs" / "x-test.md"
    doc.write_text("[a](configuration.md#no-such-heading) [b](nowhere.md) `make nosuch`\n")
    try:
        found = list(docs_check.reference_problems(doc))
    finally:
        doc.unlink()
    assert found == [
        "docs/x-test.md: links configuration.md#no-such-heading, but docs/configuration.md has no heading "
        "#no-such-heading",
        "docs/x-test.md: links nowhere.md, which does not exist",
        "docs/x-test.md: names `make nosuch`, which the Makefile does not have",
    ]


def test_the_readme_is_a_readme() -> None:
    readme = (CHECKOUT / "README.md").read_text()
    assert readme.count("\n") <= docs_check.README_LINES
    headings = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    assert headings == ["Quick start", "Restoring after a disaster", "Deploy to your homelab", "Documentation"]
    # the deployment is numbered commands from `pulumi login` to the first drill, with what every new user needs
    deploy = readme.split("## Deploy to your homelab\n", 1)[1].split("\n## ", 1)[0]
    for needed in (
        "pulumi login",
        "PULUMI_CONFIG_PASSPHRASE",
        "pulumi stack init",
        "OP_SERVICE_ACCOUNT_TOKEN",
        "TAILSCALE_API_KEY",
        "pulumi config set --secret tailscale:apiKey",
        "pulumi up",
        "pg-dr:drill.enabled",
    ):
        assert needed in deploy, needed
    assert deploy.index("pulumi login") < deploy.index("pulumi stack init") < deploy.index("pulumi up")
    assert "docs/brownfield.md" in readme and "## Deploying onto an existing host" not in readme


@pytest.mark.parametrize("doc", ["README.md", "bench/README.md", "docs/brownfield.md"])
def test_every_repository_path_named_exists(doc: str) -> None:
    text = (CHECKOUT / doc).read_text()
    named = {m.group(0) for m in PATH.finditer(text)}
    missing = sorted(p for p in named if not (CHECKOUT / p).exists())
    assert missing == [], f"{doc} names files that do not exist: {missing}"


def test_layout_lists_the_build_files_and_test_support() -> None:
    layout = (CHECKOUT / "docs" / "development.md").read_text().split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    for entry in ("Makefile", "pyproject.toml", "requirements.txt", "constraints.txt", ".ci/run", "tests/support/"):
        assert entry in layout, entry
        assert (CHECKOUT / entry).exists(), entry


def test_render_table_lists_every_kind_of_file_render_writes() -> None:
    development = (CHECKOUT / "docs" / "development.md").read_text()
    table = development.split("## Reviewing a stack offline", 1)[1].split("\n## ", 1)[0]
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


def test_docs_check_catches_a_stale_figure_in_prose(monkeypatch: pytest.MonkeyPatch) -> None:
    from components.borgmatic import readiness

    monkeypatch.setattr(readiness, "UNREACHABLE_GRACE_SECONDS", 20)
    assert list(docs_check.figure_problems()) == [
        "docs/development.md: should say 'the wait fails after 20 s' (the figure is the code's)"
    ]


def test_the_dev_setup_succeeds_on_the_first_up_as_documented() -> None:
    """No namespace made by hand (the stack makes it), the passphrase before `stack init`, and the port-forward
    retried from before the first `up` (the Cluster's service appears during it; the login wait needs it)."""
    dev = (CHECKOUT / "docs" / "development.md").read_text().split("## Setting up the dev stack\n", 1)[1]
    dev = dev.split("\n## ", 1)[0]
    code = "\n".join(line for line in dev.splitlines() if not line.lstrip().startswith("#"))
    assert "kubectl create namespace" not in code
    assert code.index("export PULUMI_CONFIG_PASSPHRASE") < code.index("pulumi stack init dev")
    forward = next(line for line in code.splitlines() if "kubectl" in line and "port-forward" in line)
    assert forward.startswith("while :; do kubectl -n pg-dr-dev port-forward svc/dev-pg-rw 5432:5432;")
    assert code.index(forward) < code.index("pulumi up")
