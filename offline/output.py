"""What ``pg-dr render`` writes: the review graph, Kubernetes manifests, component files and the review.

Every file is checked before anything is written: none may contain a resolved secret value. The output
directory is pg-dr's: each render is written into a fresh directory beside it, which then replaces it
(so no file of an earlier render survives), and a directory pg-dr did not write (no ``.pg-dr-render``
marker) is refused unless it is empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.outputs import RENDER_FILES
from offline.engine import Render, RenderError, redact, reveal
from offline.review import REMOTE_COMMAND, connection_view, review_files, shown_setting

MARKER = ".pg-dr-render"
MARKER_TEXT = (
    "This directory is written by `pg-dr render` and replaced as a whole on every render:\n"
    "do not keep other files here.\n"
)


def graph(render: Render, provider_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
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
                "inputs": _inputs(r),
                "outputs": redact({k: v for k, v in r.outputs.items() if k != RENDER_FILES}),
            }
            # by URN, not registration order (async, varies run to run): same config, same bytes
            for r in sorted(render.resources, key=lambda r: r.urn)
        ],
        "outputs": redact(render.stack_outputs),
        # the default providers' settings from the stack file (``tailscale:tailnet``...): which tailnet and
        # cluster a stack talks to is a difference a promotion review must show; credentials redacted
        "providerConfig": {
            k: shown_setting(k, v)
            for k, v in sorted((provider_config or {}).items())
            if not k.startswith(f"{render.project}:")
        },
    }


def _inputs(r: Any) -> dict[str, Any]:
    inputs = r.redacted_inputs()
    if r.type == REMOTE_COMMAND and "connection" in r.inputs:
        # secret as a whole for its private key; host, port, user and host key are plain config
        inputs["connection"] = connection_view(r.inputs["connection"])
    return inputs


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


def render_texts(render: Render, provider_config: Mapping[str, Any] | None = None) -> dict[Path, str]:
    """Every file of the render by relative path; raises if one would contain a resolved secret value."""
    texts: dict[Path, str] = {
        Path("graph.json"): json.dumps(graph(render, provider_config), indent=2, sort_keys=False) + "\n"
    }
    for name, manifest in k8s_manifests(render).items():
        texts[Path("k8s") / name] = yaml.safe_dump(manifest, sort_keys=False)
    for rel, text in {**render.render_files(), **review_files(render, provider_config)}.items():
        rel_path = Path(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts or rel_path == Path(MARKER):
            raise RenderError(f"render file path {rel!r} escapes the output directory")
        texts[rel_path] = text
    secrets = {s for s in render.resolved_secrets if s}
    for rel, text in texts.items():
        leaked = [s for s in secrets if s in text]
        if leaked:
            raise RenderError(f"refusing to write {rel}: it would contain a secret value")
    return texts


def check_output_dir(out: Path) -> None:
    """Refuse an ``--out`` pg-dr may not replace: a non-directory, or a non-empty directory without the marker."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RenderError(f"--out {out}: not a directory (a render replaces a whole directory)")
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise RenderError(
            f"refusing to replace {out}: it is not empty and pg-dr render did not write it (no {MARKER}); "
            "choose another --out or empty it"
        )


def write_render(render: Render, out: Path, provider_config: Mapping[str, Any] | None = None) -> list[Path]:
    """Write the render into a fresh directory beside ``out`` and swap it in; refuse any secret value."""
    out = Path(os.path.abspath(out))
    check_output_dir(out)
    texts = render_texts(render, provider_config)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        os.chmod(new, out.stat().st_mode & 0o7777 if out.is_dir() else 0o777 & ~_umask())
        for rel, text in sorted(texts.items()):
            path = new / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        (new / MARKER).write_text(MARKER_TEXT)
        _swap(new, out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return [out / rel for rel in sorted(texts)]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _swap(new: Path, out: Path) -> None:
    """Put ``new`` in place of ``out``; the previous render is removed only once the new one is in place."""
    check_output_dir(out)  # again: nothing may have appeared in it while rendering
    if not out.exists():
        new.rename(out)
        return
    old = new.with_name(new.name.replace(".new-", ".old-", 1))
    out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        with contextlib.suppress(OSError):
            old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)
