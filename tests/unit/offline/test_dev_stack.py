"""The dev stack runs on one machine and references nothing of prod (hosts, vault items, tailnet)."""

from __future__ import annotations

import json
from typing import Any

from components.config.stack import parse_stack_config
from components.project import PROJECT_DIR
from offline.engine import load_stack_file
from offline.output import graph, k8s_manifests
from tests.support.render import render_stack
from tests.support.stacks import raw_sections

ACL = "tailscale:index/acl:Acl"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def prod_markers() -> set[str]:
    """Strings that identify the prod homelab, taken from Pulumi.prod.yaml itself."""
    prod = parse_stack_config(raw_sections(load_stack_file(PROJECT_DIR, "prod")))
    assert prod.backup is not None and prod.cluster is not None
    host = prod.backup.host  # indri.tail8d86e.ts.net
    markers = {host, host.split(".")[0], host.split(".", 1)[1], prod.backup.user, prod.backup.home_dir, "op://"}
    markers |= {prod.cluster.name, load_stack_file(PROJECT_DIR, "prod")["kubernetes:context"]}
    markers |= {r.path.rstrip("/") for r in prod.backup.repositories} | {r.label for r in prod.backup.repositories}
    markers |= {db.hostname for db in prod.backup.databases if db.hostname not in LOCAL_HOSTS}
    markers |= {str(ref).split("/")[2] for _, ref in prod.secret_refs() if ref.scheme == "op"}  # vault names
    assert {"indri", "tail8d86e.ts.net", "blumeops", "op://"} <= markers  # the prod identity, as a sanity check
    return markers


def dev_texts() -> dict[str, str]:
    render = render_stack("dev")
    texts = {"graph.json": json.dumps(graph(render))}
    texts |= {f"k8s/{name}": json.dumps(manifest) for name, manifest in k8s_manifests(render).items()}
    texts |= render.render_files()
    texts["Pulumi.dev.yaml"] = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    texts["policyFile"] = (PROJECT_DIR / load_stack_file(PROJECT_DIR, "dev")["pg-dr:tailnet"]["policyFile"]).read_text()
    return texts


def test_dev_render_references_nothing_of_prod() -> None:
    markers = prod_markers()
    leaks = {(where, m) for where, text in dev_texts().items() for m in markers if m in text}
    assert leaks == set(), f"dev references prod: {sorted(leaks)}"


def test_dev_stack_runs_on_one_machine() -> None:
    raw = load_stack_file(PROJECT_DIR, "dev")
    prod_raw = load_stack_file(PROJECT_DIR, "prod")
    dev = parse_stack_config(raw_sections(raw))
    assert dev.backup is not None and dev.cluster is not None
    # A local Kubernetes context, not prod's.
    context: Any = raw["kubernetes:context"]
    assert context != prod_raw["kubernetes:context"] and context.startswith("kind-")
    # SSH to this machine, host key deliberately unchecked (the pack's dev config allows localhost only).
    assert dev.backup.host in LOCAL_HOSTS and dev.backup.insecure_ignore_host_key and dev.backup.host_key is None
    # Secrets from the environment only: no 1Password client is ever created.
    assert dev.secrets.provider == "env"
    refs = dev.secret_refs()
    assert refs and {ref.scheme for _, ref in refs} == {"env"}
    # The tailnet policy is merged and validated, never sent.
    assert dev.tailnet.manage is False
    # Repositories are local directories under the dev user's home, and the backups read this machine.
    assert all(r.path.startswith(dev.backup.home_dir + "/") and "::" not in r.path for r in dev.backup.repositories)
    assert {db.hostname for db in dev.backup.databases} <= LOCAL_HOSTS
    # The restore drill is on, restoring into a scratch database on this machine's port-forwarded cluster.
    assert dev.drill.enabled and dev.drill.target is not None and dev.drill.target.hostname in LOCAL_HOSTS
    assert dev.drill.scratch_name not in {db.name for db in dev.backup.databases}
    render = render_stack("dev")
    assert render.of_type(ACL) == []
    assert render.one("pg-dr:index:TailnetPolicy").outputs["managed"] is False
    commands = render.of_type("command:remote:Command")
    assert commands and all(c.inputs["connection"].value["host"] == dev.backup.host for c in commands)
