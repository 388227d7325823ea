"""Stand-ins for the Pulumi engine and its providers, applying what the program registered.

* ``Engine(server).apply({name: inputs, ...})``: ``command:remote:Command`` over a real sshd
  (tests/support/sshd.py): what ``pulumi up`` would run for each registered command, in the given
  (dependency) order, and the steps it took. Re-exported by ``tests.support.sshd``.
* ``KubernetesWorld().apply(render)``: the render's Kubernetes resources against a cluster's objects, with
  pulumi-kubernetes 4.x's rules for objects that already exist (AlreadyExists, import, upsert, patches),
  Secret updates and ``pulumi.com/waitFor``.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from offline.engine import reveal as _reveal

if TYPE_CHECKING:
    from tests.support.sshd import SshServer


@dataclass
class Step:
    name: str
    op: Literal["create", "update", "replace-create", "replace-delete", "delete"]
    proc: subprocess.CompletedProcess[str] | None

    @property
    def ok(self) -> bool:
        return self.proc is None or self.proc.returncode == 0


class Engine:
    """Applies successive states of named ``remote.Command`` inputs like ``pulumi up`` would.

    ``apply({"name": inputs, ...})`` (in dependency order) runs, per resource: ``create`` when new,
    nothing when the inputs are unchanged, ``update`` (or ``create``) when they changed, and on a
    ``triggers`` change a replacement: the new one is created in place, and the old one's ``delete`` (with
    the old state's stdin) runs at the end of the run (Pulumi's default create-before-delete), together
    with the deletes of resources gone from the new state, in reverse order. A failing step stops the
    apply (the failed resource keeps its old state; replaced resources not yet deleted stay pending, as
    the engine keeps them in the state to delete on the next run).
    """

    def __init__(self, server: SshServer):
        self.server = server
        self.state: dict[str, dict[str, Any]] = {}
        self.pending_deletes: list[tuple[str, dict[str, Any]]] = []  # replaced, not yet deleted

    def apply(self, resources: Mapping[str, Mapping[str, Any]]) -> list[Step]:
        steps: list[Step] = []
        new = {name: _reveal(dict(inputs)) for name, inputs in resources.items()}
        order = list(self.state)
        for name, inputs in new.items():
            old = self.state.get(name)
            if old is None:
                step = Step(name, "create", self.server.run_registered(inputs, "create"))
            elif _canonical(old) == _canonical(inputs):
                continue
            elif _canonical(old.get("triggers")) != _canonical(inputs.get("triggers")):
                step = Step(name, "replace-create", self.server.run_registered(inputs, "create"))
                if step.ok:
                    self.pending_deletes.append((name, old))
            else:
                step = Step(name, "update", self.server.run_registered(inputs, "update"))
            steps.append(step)
            if not step.ok:
                return steps
            self.state[name] = inputs
        # the end of the run: replaced and removed resources are deleted, in reverse order
        ends = [(n, "delete", self.state[n]) for n in order if n not in new]
        ends += [(n, "replace-delete", old) for n, old in self.pending_deletes]
        ends.sort(key=lambda end: order.index(end[0]) if end[0] in order else len(order))
        for name, op, old in reversed(ends):
            step = Step(name, op, self.server.run_registered(old, "delete"))
            steps.append(step)
            if not step.ok:
                return steps
            if op == "delete":
                del self.state[name]
            else:
                self.pending_deletes.remove((name, old))
        return steps


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ------------------------------------------------------------------------------------------ Kubernetes
class KubeApplyError(Exception):
    """What ``pulumi up`` would fail with (the provider's or the engine's message)."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _drop(doc: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc.get(key) or {}
    if isinstance(doc, dict):
        doc.pop(last, None)


def _copy_path(source: dict[str, Any], target: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        source = source.get(key) or {}
        target = target.setdefault(key, {})
    if last in source:
        target[last] = copy.deepcopy(source[last])


def _merge(live: Any, applied: Any) -> Any:
    """Server-side apply of ``applied`` onto ``live``: maps merge key by key, lists (atomic) are replaced."""
    if isinstance(live, dict) and isinstance(applied, dict):
        return {**live, **{k: _merge(live.get(k), v) for k, v in applied.items()}}
    return copy.deepcopy(applied)


class KubernetesWorld:
    """A cluster's objects and what pulumi-kubernetes 4.x does to them, for a render's Kubernetes resources.

    ``apply(render)`` runs ``pulumi up`` (``preview=True``: ``pulumi preview``) over the render's
    ``kubernetes:*`` resources, in dependency order, on their explicit provider's settings:

    * create: an object that exists fails with AlreadyExists unless imported (``import_``) or the provider
      upserts (``upsertExistingObjects``); preview swallows that error (the provider returns the inputs);
    * import: the object must exist, and the declared object must equal the live one outside the
      resource's ``ignoreChanges`` ("inputs to import do not match the existing resource");
    * a ``...Patch`` resource is a server-side apply of its fields onto an object that must exist (an apply
      to a missing Cluster would create a partial one that CNPG's CRD rejects), under its field manager;
    * an update of a Secret's data is in place with ``enableSecretMutable``, else delete-before-replace
      (the Secret is gone in between: recorded in ``events``);
    * the apply returns before the operator acts (no status) unless the object has ``pulumi.com/waitFor``;
      then ``operator(obj)`` is run (it sets status as CNPG would) and the condition must hold.
    """

    def __init__(self, operator: Callable[[dict[str, Any]], None] | None = None):
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.managers: dict[tuple[str, str, str], dict[str, str]] = {}  # field path -> manager
        self.state: dict[str, dict[str, Any]] = {}  # Pulumi state: URN -> applied manifest
        self.events: list[str] = []
        self.operator = operator

    @staticmethod
    def key(manifest: Mapping[str, Any]) -> tuple[str, str, str]:
        metadata = manifest.get("metadata") or {}
        return (str(manifest["kind"]), str(metadata.get("namespace") or "default"), str(metadata["name"]))

    def put(self, manifest: Mapping[str, Any]) -> None:
        """An object that already exists (made by another tool); Secrets given with ``stringData``."""
        self.objects[self.key(manifest)] = self._normalized(manifest)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    @staticmethod
    def _normalized(manifest: Mapping[str, Any]) -> dict[str, Any]:
        """As the API server stores it: a Secret's ``stringData`` folded into base64 ``data``."""
        obj = copy.deepcopy(_reveal(dict(manifest)))
        if obj.get("kind") == "Secret" and "stringData" in obj:
            obj["data"] = {**(obj.get("data") or {}), **{k: _b64(v) for k, v in obj.pop("stringData").items()}}
        return obj

    def apply(self, render: Any, *, preview: bool = False) -> list[str]:
        """The operations ``up`` (or ``preview``) performs, in order; raises :class:`KubeApplyError` on failure."""
        resources = [r for r in render.resources if r.type.startswith("kubernetes:")]
        providers = {f"{r.urn}::{r.name}-id": _reveal(r.inputs) for r in render.of_type("pulumi:providers:kubernetes")}
        done: list[str] = []
        for r in dependency_order(resources):
            provider = providers.get(r.options.get("provider") or "", {})
            op = self._apply_one(r, provider, preview)
            done.append(f"{op} {r.type.rsplit(':', 1)[-1]} {r.name}")
        return done

    def _apply_one(self, r: Any, provider: Mapping[str, Any], preview: bool) -> str:
        desired = self._normalized(r.inputs)
        key = self.key(desired)
        live = self.objects.get(key)
        flag = lambda name: str(provider.get(name, "false")).lower() == "true"  # noqa: E731 - provider inputs are strings
        if r.type.endswith("Patch"):
            if not flag("enableServerSideApply") and "enableServerSideApply" in provider:
                raise KubeApplyError("patch resources require Server-Side Apply mode")
            if live is None:
                raise KubeApplyError(f"{r.name}: {key[0]} {key[1]}/{key[2]} does not exist: nothing to patch")
            manager = (desired["metadata"].get("annotations") or {}).get(
                "pulumi.com/patchFieldManager", "pulumi-kubernetes-x"
            )
            if not preview:
                self.objects[key] = _merge(live, {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")})
                for field in desired.get("spec") or {}:
                    self.managers.setdefault(key, {})[f"spec.{field}"] = manager
                self.state[r.urn] = desired
                self._await(r, key)
            return "patch"
        if r.urn in self.state:
            return self._update(r, key, desired, provider, preview)
        import_id = r.options.get("importId")
        if import_id:
            if live is None:
                raise KubeApplyError(f"{r.name}: importing {import_id}: resource does not exist")
            ignored = r.options.get("ignoreChanges") or []
            declared, actual = copy.deepcopy(desired), copy.deepcopy(live)
            for path in ignored:
                _drop(declared, path)
                _drop(actual, path)
            if declared != actual:
                raise KubeApplyError(f"{r.name}: inputs to import do not match the existing resource ({import_id})")
            if not preview:  # the state holds the live values of the ignored fields
                self.state[r.urn] = declared
                for path in ignored:
                    _copy_path(live, self.state[r.urn], path)
            return "import"
        if live is not None:
            if flag("upsertExistingObjects"):
                if not preview:
                    self.objects[key] = _merge(live, desired)
                    self.state[r.urn] = desired
                    self._await(r, key)
                return "upsert"
            if preview:  # the provider swallows AlreadyExists during preview
                return "create"
            raise KubeApplyError(
                f"{r.name}: resource {key[1]}/{key[2]} was not successfully created by the Kubernetes API server: "
                f'{key[0].lower()}s "{key[2]}" already exists. The resource already exists in the cluster.'
            )
        if not preview:
            self.objects[key] = desired
            self.state[r.urn] = desired
            self.events.append(f"created {key[0]} {key[1]}/{key[2]}")
            self._await(r, key)
        return "create"

    def _update(
        self, r: Any, key: tuple[str, str, str], desired: dict[str, Any], provider: Mapping[str, Any], preview: bool
    ) -> str:
        old = self.state[r.urn]
        if old == desired:
            return "same"
        secret_data_changed = desired.get("kind") == "Secret" and any(
            old.get(f) != desired.get(f) for f in ("type", "data")
        )
        mutable = str(provider.get("enableSecretMutable", "false")).lower() == "true"
        op = "replace" if secret_data_changed and not mutable else "update"
        if not preview:
            if op == "replace":  # named: delete-before-replace, the Secret is gone in between
                del self.objects[key]
                self.events.append(f"deleted {key[0]} {key[1]}/{key[2]}")
                self.objects[key] = desired
                self.events.append(f"created {key[0]} {key[1]}/{key[2]}")
            else:
                self.objects[key] = _merge(self.objects.get(key) or {}, desired)
                self.events.append(f"updated {key[0]} {key[1]}/{key[2]}")
            self.state[r.urn] = desired
            self._await(r, key)
        return op

    def _await(self, r: Any, key: tuple[str, str, str]) -> None:
        """Returns at once without ``pulumi.com/waitFor``; with it, the operator acts and the condition must hold."""
        wait_for = ((self.objects[key].get("metadata") or {}).get("annotations") or {}).get("pulumi.com/waitFor")
        if not wait_for:
            return
        if self.operator is not None:
            self.operator(self.objects[key])
        status = self.objects[key].get("status") or {}
        if wait_for.startswith("condition="):
            wanted = wait_for[len("condition=") :]
            ok = any(
                c.get("type", "").lower() == wanted.lower() and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
        elif wait_for == "jsonpath={.status.applied}=true":
            ok = status.get("applied") is True
        else:
            raise KubeApplyError(f"{r.name}: unsupported waitFor {wait_for!r} in the stand-in")
        if not ok:
            raise KubeApplyError(f"{r.name}: timed out waiting for {wait_for}")
        self.events.append(f"ready {key[0]} {key[1]}/{key[2]} ({wait_for})")


def dependency_order(resources: list[Any], tie: str = "urn") -> list[Any]:
    """Registered resources in an order the engine could apply them: each after what it depends on (ties by
    ``tie``, so the order is deterministic)."""
    urns = {r.urn for r in resources}
    ordered: list[Any] = []
    while len(ordered) < len(resources):
        done = {r.urn for r in ordered}
        ready = [r for r in resources if r.urn not in done and set(r.dependencies) & urns <= done]
        if not ready:
            raise ValueError("the resources depend on each other in a cycle")
        ordered.append(min(ready, key=lambda r: getattr(r, tie)))
    return ordered
