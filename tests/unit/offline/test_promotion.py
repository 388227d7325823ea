"""Promotion review: ``pg-dr diff A B`` compares two stacks' renders, secrets redacted, exit 0/1/2."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from offline.cli import main
from offline.output import graph
from offline.promotion import MISSING, compare, diff_values, format_diff
from tests.support.render import render_config
from tests.support.stacks import stack


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_diff_dev_prod_is_readable_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["diff", "dev", "prod"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert re.fullmatch(r"--- dev \(\d+ resources\)", lines[0]) and re.fullmatch(
        r"\+\+\+ prod \(\d+ resources\)", lines[1]
    )
    only_prod = out.split("only in prod:\n", 1)[1].split("\n\n", 1)[0]
    # Resources of prod alone: the managed tailnet Acl (dev validates only) and the superuser's Secret.
    assert "  + tailscale:index/acl:Acl tailnet-policy  (under pg-dr:index:TailnetPolicy tailnet)" in only_prod
    assert "  + kubernetes:core/v1:Secret blumeops-pg-eblume  (under pg-dr:index:CnpgRoles cnpg)" in only_prod
    # Dev owns its Cluster; prod patches only the roles of the Cluster ArgoCD owns.
    assert (
        "  + kubernetes:postgresql.cnpg.io/v1:ClusterPatch blumeops-pg  (under pg-dr:index:CnpgRoles cnpg)" in only_prod
    )
    assert "  - kubernetes:postgresql.cnpg.io/v1:Cluster dev-pg  (under pg-dr:index:CnpgRoles cnpg)" in out
    # Renamed resources are paired and show only their real differences: the import, the provider's context.
    secret = out.split("  ~ kubernetes:core/v1:Secret dev-pg-borgmatic -> blumeops-pg-borgmatic\n", 1)[1]
    assert secret.startswith('      import: null -> "databases/blumeops-pg-borgmatic"\n')
    assert '  ~ pulumi:providers:kubernetes cnpg-k8s\n      inputs.context: "kind-pg-dr" -> "blumeops"\n' in out
    assert "kubernetes:core/v1:Secret dev-pg-borgmatic -> blumeops-pg-borgmatic" in out
    # The last line counts what differs.
    summary = re.fullmatch(r"(\d+) only in dev, (\d+) only in prod, (\d+) changed, \d+ identical", lines[-1])
    assert summary and int(summary[2]) == len(only_prod.splitlines()) and int(summary[3]) >= 2
    assert "<unresolved" not in out and "op://" not in out, "secret references or placeholders leaked"


def test_diff_of_a_stack_with_itself_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["diff", "prod", "prod"], capsys)
    assert code == 0
    assert "changed:" not in out and "only in prod:" not in out and "stack outputs:" not in out
    assert out.rstrip().endswith("prod and prod render the same")


def test_diff_with_a_missing_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["diff", "dev", "staging"], capsys)
    assert code == 2 and out == ""
    assert "no stack file Pulumi.staging.yaml" in err


def _env_stack(password_env: str) -> dict[str, Any]:
    config = stack()
    config["pg-dr:secrets"] = {"provider": "env"}
    config["pg-dr:cluster"]["roles"][0]["password"] = f"env:{password_env}"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = f"env:{password_env}"
    return config


def test_secret_values_never_show_and_equal_redactions_are_no_difference() -> None:
    """Same references resolved to different passwords: the renders do not differ and nothing leaks."""
    one = render_config(_env_stack("PW"), resolve_secrets=True, environ={"PW": "first-Secret-1"})
    two = render_config(_env_stack("PW"), resolve_secrets=True, environ={"PW": "second-Secret-2"})
    assert {"first-Secret-1"} <= one.secret_values() and {"second-Secret-2"} <= two.secret_values()
    diff = compare(graph(one), graph(two))
    text = format_diff(diff)
    assert not diff.differs, text
    assert "first-Secret-1" not in text and "second-Secret-2" not in text


def test_a_value_turning_secret_shows_as_redacted() -> None:
    base = {"project": "pg-dr", "stack": "a", "resources": [], "outputs": {}}
    resource = {"type": "t:x:Y", "name": "r", "parent": "pulumi:pulumi:Stack::pg-dr-a", "dependencies": []}
    a = {**copy.deepcopy(base), "resources": [{**resource, "inputs": {"token": "plain"}}]}
    b = {**copy.deepcopy(base), "stack": "b", "resources": [{**resource, "inputs": {"token": "[secret]"}}]}
    b["resources"][0]["parent"] = "pulumi:pulumi:Stack::pg-dr-b"
    text = format_diff(compare(a, b))
    assert '      inputs.token: "plain" -> "[secret]"' in text


# ---------------------------------------------------------------------------- pairing and value diffs
def _graph(stack_name: str, *resources: dict[str, Any]) -> dict[str, Any]:
    root = f"pulumi:pulumi:Stack::pg-dr-{stack_name}"
    out = []
    for r in resources:
        entry = {"dependencies": [], "protect": False, "retainOnDelete": False, "inputs": {}, "outputs": {}, **r}
        entry["parent"] = entry.get("parent") or root
        out.append(entry)
    return {"project": "pg-dr", "stack": stack_name, "resources": out, "outputs": {}}


COMPONENT = {"type": "pg-dr:index:CnpgRoles", "name": "cnpg"}
UNDER = "pg-dr:index:CnpgRoles::cnpg"


def test_renamed_children_pair_by_parent_and_similarity() -> None:
    a = _graph(
        "dev",
        COMPONENT,
        {"type": "k:Secret", "name": "dev-pg-borgmatic", "parent": UNDER, "inputs": {"user": "borgmatic"}},
        {"type": "k:Secret", "name": "dev-pg-pgdr-drill", "parent": UNDER, "inputs": {"user": "pgdr_drill"}},
        {"type": "k:Cluster", "name": "dev-pg", "parent": UNDER, "dependencies": ["k:Secret::dev-pg-borgmatic"]},
    )
    b = _graph(
        "prod",
        COMPONENT,
        {"type": "k:Secret", "name": "blumeops-pg-eblume", "parent": UNDER, "inputs": {"user": "eblume"}},
        {"type": "k:Secret", "name": "blumeops-pg-borgmatic", "parent": UNDER, "inputs": {"user": "borgmatic"}},
        {
            "type": "k:Cluster",
            "name": "blumeops-pg",
            "parent": UNDER,
            "dependencies": ["k:Secret::blumeops-pg-borgmatic"],
        },
    )
    diff = compare(a, b)
    # Different roles are not paired although both are the "other" Secret: no shared first or last word.
    assert [r["name"] for r in diff.only_b] == ["blumeops-pg-eblume"]
    assert [r["name"] for r in diff.only_a] == ["dev-pg-pgdr-drill"]
    pairs = {(p.name_a, p.name_b): p.changes for p in diff.changed}
    # Renamed with no other change: listed as a rename, with nothing else to show; the dependency on
    # the renamed Secret is translated, so it is no difference either.
    assert pairs == {("dev-pg-borgmatic", "blumeops-pg-borgmatic"): [], ("dev-pg", "blumeops-pg"): []}
    assert diff.identical == 1  # the component


def test_a_resource_under_a_different_parent_is_not_paired() -> None:
    a = _graph("dev", COMPONENT, {"type": "k:Secret", "name": "s-dev", "parent": UNDER})
    b = _graph(
        "prod",
        {"type": "pg-dr:index:Other", "name": "o"},
        {"type": "k:Secret", "name": "s-prod", "parent": "pg-dr:index:Other::o"},
    )
    diff = compare(a, b)
    assert [r["name"] for r in diff.only_a] == ["cnpg", "s-dev"]
    assert [r["name"] for r in diff.only_b] == ["o", "s-prod"]


def test_value_diffs_use_dotted_paths_named_lists_and_text() -> None:
    a = {"spec": {"roles": [{"name": "x", "login": True}, {"name": "y"}]}, "script": "a\nb\nc\n", "tags": ["p", "q"]}
    b = {"spec": {"roles": [{"name": "y"}, {"name": "x", "login": False}]}, "script": "a\nB\nc\n", "tags": ["q"]}
    changes = {c.path: (c.before, c.after) for c in diff_values(a, b, "inputs")}
    assert changes == {
        "inputs.spec.roles (order)": (["x", "y"], ["y", "x"]),
        "inputs.spec.roles[name=x].login": (True, False),
        "inputs.script": ("a\nb\nc\n", "a\nB\nc\n"),
        "inputs.tags": (["p", "q"], ["q"]),
    }
    assert [(c.path, c.before, c.after is MISSING) for c in diff_values({"k": 1}, {}, "x")] == [("x.k", 1, True)]
    assert list(diff_values({"same": [1, {"a": "b"}]}, {"same": [1, {"a": "b"}]}, "x")) == []


def test_text_differences_print_as_a_line_diff() -> None:
    a = _graph("dev", {"type": "c:Command", "name": "c", "inputs": {"create": "set -e\necho dev\nexit 0\n"}})
    b = _graph("prod", {"type": "c:Command", "name": "c", "inputs": {"create": "set -e\necho prod\nexit 0\n"}})
    text = format_diff(compare(a, b))
    assert "      inputs.create: (text)\n" in text
    assert "        -echo dev\n        +echo prod\n" in text


def test_provider_settings_are_in_the_graph_and_the_diff_credentials_redacted() -> None:
    """Which tailnet and cluster a stack talks to (the default providers' stack config) is reviewed too."""
    render = render_config(stack())
    dev = graph(render, {"tailscale:tailnet": "dev.ts.net", "tailscale:apiKey": "tskey-api-123", "pg-dr:x": 1})
    prod = graph(render, {"tailscale:tailnet": "example.ts.net", "tailscale:apiKey": {"secure": "v1:abc"}})
    assert dev["providerConfig"] == {"tailscale:apiKey": "[secret]", "tailscale:tailnet": "dev.ts.net"}
    text = format_diff(compare(dev, prod))
    assert 'providerConfig.tailscale:tailnet: "dev.ts.net" -> "example.ts.net"' in text
    assert "tskey-api-123" not in json.dumps(dev) + text and "v1:abc" not in json.dumps(prod) + text
