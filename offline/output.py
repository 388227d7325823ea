"""What ``pg-dr render`` writes: the review graph, Kubernetes manifests and component files.

Every file is checked before anything is written: none may contain a resolved secret value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.outputs import RENDER_FILES
from offline.engine import Render, RenderError, redact, reveal


def graph(render: Render) -> dict[str, Any]:
    """The review document: every resource with its type, name, parent, dependencies and redacted inputs."""
    by_urn = {r.urn: r for r in render.resources}

    def ref(urn: str | None) -> str | None:
        if urn is None:
            return None
        if urn in by_urn:
            return f"{by_urn[urn].type}::{by_urn[urn].name}"
        _, _, qualified_type, name = urn.split("::", 3)  # the root Stack, not a registered resource
        return f"{qualified_type.split('$')[-1]}::{name}"

    return {
        "project": render.project,
        "stack": render.stack,
        "secretsResolved": not render.placeholders,
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "urn": r.urn,
                "parent": ref(r.parent),
                "dependencies": sorted(filter(None, (ref(d) for d in r.dependencies))),
                "protect": r.protect,
                "retainOnDelete": r.retain_on_delete,
                # only when set: an explicit provider (its settings are a resource of the graph) and an import
                **({"provider": ref(r.options["provider"].rsplit("::", 1)[0])} if r.options.get("provider") else {}),
                **({"import": r.options["importId"]} if r.options.get("importId") else {}),
                "inputs": r.redacted_inputs(),
                "outputs": redact({k: v for k, v in r.outputs.items() if k != RENDER_FILES}),
            }
            # by URN, not registration order (async, varies run to run): same config, same bytes
            for r in sorted(render.resources, key=lambda r: r.urn)
        ],
        "outputs": redact(render.stack_outputs),
    }


def k8s_manifests(render: Render) -> dict[str, dict[str, Any]]:
    """Kubernetes manifests by file name (``<kind>-<name>.yaml``), Secret data redacted."""
    manifests: dict[str, dict[str, Any]] = {}
    for r in render.resources:
        if not r.type.startswith("kubernetes:"):
            continue
        inputs = r.inputs
        first = ("apiVersion", "kind", "metadata", "type")
        manifest: dict[str, Any] = {k: inputs[k] for k in first if k in inputs}
        manifest.update({k: v for k, v in inputs.items() if k not in first})
        if inputs.get("kind") == "Secret":
            for key in ("data", "stringData"):
                if key in manifest:
                    # Only a basic-auth username (the role name, by CNPG's rule) is shown.
                    manifest[key] = {
                        k: (v if k == "username" and inputs.get("type") == "kubernetes.io/basic-auth" else "[redacted]")
                        for k, v in reveal(manifest[key]).items()
                    }
        manifest = redact(manifest)
        name = (inputs.get("metadata") or {}).get("name") or r.name
        manifests[f"{str(inputs.get('kind')).lower()}-{name}.yaml"] = manifest
    return manifests


def write_render(render: Render, out: Path) -> list[Path]:
    """Write graph.json, k8s manifests and component files under ``out``; refuse to write any secret."""
    texts: dict[Path, str] = {Path("graph.json"): json.dumps(graph(render), indent=2, sort_keys=False) + "\n"}
    for name, manifest in k8s_manifests(render).items():
        texts[Path("k8s") / name] = yaml.safe_dump(manifest, sort_keys=False)
    for rel, text in render.render_files().items():
        rel_path = Path(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise RenderError(f"render file path {rel!r} escapes the output directory")
        texts[rel_path] = text
    secrets = {s for s in render.resolved_secrets if s}
    for rel, text in texts.items():
        leaked = [s for s in secrets if s in text]
        if leaked:
            raise RenderError(f"refusing to write {rel}: it would contain a secret value")
    written = []
    for rel, text in sorted(texts.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
