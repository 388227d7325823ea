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
    """What ``pulumi up`` would fail with (the provider's, the API server's or the engine's message)."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


Path = tuple[str, ...]
# pulumi-kubernetes' field manager for a resource (it is "pulumi-kubernetes-<random>" per resource; one here)
PULUMI_MANAGER = "pulumi-kubernetes-pg-dr"
# fixCSAFieldManagers (provider/pkg/await/await.go, v4.32.0) moves these managers' fields to the SSA manager
# before an update: kubectl's Update/Apply ("kubectl"), "before-first-apply" and pulumi's own CSA names.
# "kubectl-client-side-apply" (what `kubectl apply` without --server-side records) is NOT among them.
CSA_MANAGERS = frozenset({"kubectl", "before-first-apply", "pulumi-kubernetes", "pulumi-resource-kubernetes"})
IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
# What the API server and the provider drop from an imported built-in object's inputs (provider.go Read).
SERVER_FIELDS = ("status", "metadata.creationTimestamp", "metadata.generation", "metadata.resourceVersion")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _fields(doc: Any, parts: Path = ()) -> dict[Path, Any]:
    """Leaf paths of an applied configuration: maps recurse, lists are atomic (CNPG's managed.roles is)."""
    if isinstance(doc, dict) and doc:
        out: dict[Path, Any] = {}
        for k, v in doc.items():
            out.update(_fields(v, (*parts, k)))
        return out
    return {parts: doc}


def _at(doc: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


def _set(doc: dict[str, Any], path: Path, value: Any) -> None:
    for part in path[:-1]:
        doc = doc.setdefault(part, {})
    doc[path[-1]] = copy.deepcopy(value)


def _unset(doc: dict[str, Any], path: Path) -> None:
    for part in path[:-1]:
        doc = doc.get(part) or {}
    if isinstance(doc, dict):
        doc.pop(path[-1], None)


def _pruned(live: Any, template: Any) -> Any:
    """``live`` cut to the keys of ``template`` (the provider's pruneLiveState, for a refreshed diff)."""
    if isinstance(template, dict) and isinstance(live, dict):
        return {k: _pruned(live[k], v) for k, v in template.items() if k in live}
    return copy.deepcopy(live)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class KubernetesWorld:
    """A cluster's objects, their field owners, and what pulumi-kubernetes 4.34 and CNPG do to them.

    Read from the pinned sources (pulumi-kubernetes v4.32.0 is the newest tag stored here; the 4.34 line
    did not change these paths), pulumi/pulumi after v3.272.0, cloudnative-pg main:

    * **create** (``provider/pkg/await/await.go`` ``Creation``): in SSA mode a plain create; an object that
      exists fails with AlreadyExists, which preview swallows (``provider.go`` ``Create``). With
      ``upsertExistingObjects`` it is a server-side apply instead, **unforced** (``patchForce``: only the
      ``pulumi.com/patchForce`` annotation or ``enablePatchForce`` force it): fields another manager owns
      with another value conflict at ``up``; preview forces (``patchForce``: no live object) and is green.
    * **import** (pulumi >= 3.174, pulumi/pulumi#19339, ``pkg/resource/deploy/step_generator.go``,
      ``step.go`` ``ImportStep``): the object is read (missing: "resource '<id>' does not exist", at preview
      too); for a custom resource only apiVersion/kind/name/namespace become the imported inputs
      (``provider.go`` ``Read``: a CR has no schema input properties), for a built-in the live object; then
      every difference is an **update in the same up** (an SSA under pulumi's manager, after
      ``fixCSAFieldManagers``), and a difference that needs a replacement (a Secret's ``type``) fails at
      ``up`` only: "previously-imported resources that still specify an ID may not be replaced".
    * **server-side apply**: each leaf field has owners; an equal value is shared, a differing value owned
      by another manager is a conflict unless forced, a field nobody owns is simply changed. An object
      without managedFields (legacy) has its fields owned by "before-first-apply"; an import's or an
      update's apply over it is forced (``patchForce`` with the live object), an upsert's or a patch's
      create-time apply is not (``Creation`` passes no live object).
    * **patches** (``...Patch``): never previewed (``provider.go`` ``Create``: ``skipPreview`` for patch
      resources); at ``up`` a server-side apply under ``pulumi.com/patchFieldManager``, forced only by
      ``pulumi.com/patchForce``; a patch of a missing object **creates** it (then CNPG's webhook rejects
      a Cluster without storage: "Size not configured").
    * **Secret updates**: in place with ``enableSecretMutable``, else delete-before-replace.
    * **waits** (``pulumi.com/waitFor``): the condition is checked on the object as it is when the apply
      returns. CNPG's Cluster ``Ready`` condition has no observedGeneration, so a Cluster that was Ready
      satisfies it at once after a change; the operator reconciles afterwards (``events`` show the order).
      A DatabaseRole whose role is still in the Cluster's ``spec.managed.roles`` gets ``applied: false``
      ("database role is already managed by the CNPG cluster", cloudnative-pg
      ``internal/management/controller/databaserole_controller.go``) and the wait times out.
    * **refresh** (``apply(..., refresh=True)``, what ``options: refresh: always`` does): each resource's
      state is re-read from the live object (cut to its inputs) before the diff; without it the diff is
      against the checkpoint and a change by another tool is invisible.
    * **reads** (:meth:`read`): what the program's ``Resource.get`` sees (serves ``render_config(live=...)``).
    """

    def __init__(self, operator: Callable[[dict[str, Any]], None] | None = None):
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.owners: dict[tuple[str, str, str], dict[Path, set[str]]] = {}  # absent: no managedFields
        self.state: dict[str, dict[str, Any]] = {}  # Pulumi state: URN -> the inputs last applied
        self.events: list[str] = []
        self.operator = operator if operator is not None else self.cnpg

    @staticmethod
    def key(manifest: Mapping[str, Any]) -> tuple[str, str, str]:
        metadata = manifest.get("metadata") or {}
        return (str(manifest["kind"]), str(metadata.get("namespace") or "default"), str(metadata["name"]))

    def put(self, manifest: Mapping[str, Any], manager: str | None = "kubectl-client-side-apply") -> None:
        """An object another tool made (Secrets given with ``stringData``); ``manager`` owns every field
        (None: a legacy object without managedFields)."""
        obj = self._normalized(manifest)
        obj.setdefault("metadata", {})["generation"] = 1
        key = self.key(obj)
        self.objects[key] = obj
        if manager is None:
            self.owners.pop(key, None)
        else:
            self.owners[key] = {path: {manager} for path in _fields(obj) if path not in IDENTITY}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def managers(self, kind: str, namespace: str, name: str) -> dict[str, set[str]]:
        """Field path (dotted) -> its managers."""
        return {".".join(p): set(m) for p, m in (self.owners.get((kind, namespace, name)) or {}).items()}

    def read(self, type_: str, id_: str) -> dict[str, Any] | None:
        """The live object for a ``Resource.get`` of ``type_`` by ``<namespace>/<name>`` (None: missing)."""
        namespace, _, name = id_.rpartition("/")
        obj = self.objects.get((type_.rsplit(":", 1)[-1], namespace or "default", name))
        return copy.deepcopy(obj) if obj is not None else None

    @staticmethod
    def _normalized(manifest: Mapping[str, Any]) -> dict[str, Any]:
        """As the API server stores it: a Secret's ``stringData`` folded into base64 ``data``."""
        obj = copy.deepcopy(_reveal(dict(manifest)))
        if obj.get("kind") == "Secret" and "stringData" in obj:
            obj["data"] = {**(obj.get("data") or {}), **{k: _b64(v) for k, v in obj.pop("stringData").items()}}
        return obj

    def apply(self, render: Any, *, preview: bool = False, refresh: bool = False) -> list[str]:
        """The operations ``up`` (or ``preview``) performs, in order; raises :class:`KubeApplyError` on failure."""
        resources = [r for r in render.resources if r.type.startswith("kubernetes:")]
        providers = {f"{r.urn}::{r.name}-id": _reveal(r.inputs) for r in render.of_type("pulumi:providers:kubernetes")}
        if refresh:
            self._refresh(resources)
        done: list[str] = []
        for r in dependency_order(resources):
            provider = providers.get(r.options.get("provider") or "", {})
            op = self._apply_one(r, provider, preview)
            done.append(f"{op} {r.type.rsplit(':', 1)[-1]} {r.name}")
        return done

    def _refresh(self, resources: list[Any]) -> None:
        for r in resources:
            if r.urn not in self.state:
                continue
            live = self.objects.get(self.key(self._normalized(r.inputs)))
            if live is None:
                del self.state[r.urn]
            else:
                self.state[r.urn] = _pruned(live, self.state[r.urn])

    # --------------------------------------------------------------------------------- server-side apply
    def ssa(self, key: tuple[str, str, str], applied: Mapping[str, Any], manager: str, force: bool) -> None:
        """A server-side apply of ``applied`` by ``manager``; raises the API server's conflict error."""
        live = self.objects.get(key)
        created = live is None
        if created:
            live = {"apiVersion": applied["apiVersion"], "kind": applied["kind"], "metadata": {
                "name": key[2], "namespace": key[1], "generation": 1}}  # fmt: skip
            self.owners[key] = {}
        assert live is not None
        if key not in self.owners:  # no managedFields: the API server gives every field to "before-first-apply"
            self.owners[key] = {p: {"before-first-apply"} for p in _fields(live) if p not in IDENTITY}
        owners = self.owners[key]
        wanted = {p: v for p, v in _fields(dict(applied)).items() if p not in IDENTITY}
        conflicts = sorted(
            (".".join(p), sorted(owners.get(p, set()) - {manager}))
            for p, v in wanted.items()
            if _at(live, p) != v and owners.get(p, set()) - {manager}
        )
        if conflicts and not force:
            names = "; ".join(f'conflict with "{m[0]}": .{p}' for p, m in conflicts)
            raise KubeApplyError(f"Apply failed with {len(conflicts)} conflict(s): {names}")
        before = copy.deepcopy(live.get("spec"))
        for p, v in wanted.items():
            if _at(live, p) == v and not force:
                owners.setdefault(p, set()).add(manager)
            else:
                _set(live, p, v)
                owners[p] = {manager}
        for p in [p for p, m in owners.items() if manager in m and p not in wanted]:  # fields no longer applied
            owners[p].discard(manager)
            if not owners[p]:
                del owners[p]
                _unset(live, p)
        if live.get("spec") != before and not created:
            live["metadata"]["generation"] = live["metadata"].get("generation", 1) + 1
        self.objects[key] = live
        if created:
            self._admit(key)
            self.events.append(f"created {key[0]} {key[1]}/{key[2]}")

    def _admit(self, key: tuple[str, str, str]) -> None:
        """CNPG's validating webhook on a new Cluster (what stops a patch that created one)."""
        obj = self.objects[key]
        if key[0] == "Cluster" and _at(obj, ("spec", "storage", "size")) in (_MISSING, None, ""):
            del self.objects[key]
            del self.owners[key]
            raise KubeApplyError(
                f'admission webhook "vcluster.cnpg.io" denied the request: Cluster.postgresql.cnpg.io '
                f'"{key[2]}" is invalid: spec.storage.size: Required value: Size not configured'
            )

    def _legacy(self, key: tuple[str, str, str]) -> bool:
        """An existing object without managedFields: ``patchForce`` forces an update over it (but not a
        create-time apply, where the provider passes no live object)."""
        return key in self.objects and key not in self.owners

    def _csa_upgrade(self, key: tuple[str, str, str]) -> None:
        """fixCSAFieldManagers: the CSA managers' fields become pulumi's before an update."""
        for managers in (self.owners.get(key) or {}).values():
            if managers & CSA_MANAGERS:
                managers -= CSA_MANAGERS
                managers.add(PULUMI_MANAGER)

    # ------------------------------------------------------------------------------------ pulumi steps
    def _apply_one(self, r: Any, provider: Mapping[str, Any], preview: bool) -> str:
        desired = self._normalized(r.inputs)
        key = self.key(desired)
        live = self.objects.get(key)
        flag = lambda name: str(provider.get(name, "false")).lower() == "true"  # noqa: E731 - provider inputs are strings
        annotations = (desired.get("metadata") or {}).get("annotations") or {}
        force = annotations.get("pulumi.com/patchForce") == "true" or flag("enablePatchForce")
        if r.type.endswith("Patch"):
            if not flag("enableServerSideApply") and "enableServerSideApply" in provider:
                raise KubeApplyError("patch resources require Server-Side Apply mode")
            if preview:  # skipPreview: the provider returns the inputs, whatever the cluster holds
                return "patch"
            if self.state.get(r.urn) == desired:
                return "same"
            manager = annotations.get("pulumi.com/patchFieldManager", PULUMI_MANAGER)
            self.ssa(key, self._applied(desired), manager, force)
            self.state[r.urn] = desired
            self._await(r, key)
            return "patch"
        if r.urn in self.state:
            return self._update(r, key, desired, provider, preview, force)
        import_id = r.options.get("importId")
        if import_id:
            return self._import(r, key, desired, import_id, preview, force)
        if live is not None:
            if flag("upsertExistingObjects"):
                if not preview:  # preview forces (no live object in Creation's patchForce): always green
                    self.ssa(key, self._applied(desired), PULUMI_MANAGER, force)
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
            self.ssa(key, self._applied(desired), "pulumi-kubernetes", force=False)
            self.state[r.urn] = desired
            self._await(r, key)
        return "create"

    @staticmethod
    def _applied(desired: dict[str, Any]) -> dict[str, Any]:
        """The applied configuration: the manifest without the annotations pulumi-kubernetes consumes itself."""
        applied = copy.deepcopy(desired)
        annotations = (applied.get("metadata") or {}).get("annotations") or {}
        for name in ("pulumi.com/patchForce", "pulumi.com/patchFieldManager"):
            annotations.pop(name, None)
        if not annotations:
            (applied.get("metadata") or {}).pop("annotations", None)
        return applied

    def _import(
        self, r: Any, key: tuple[str, str, str], desired: dict[str, Any], import_id: str, preview: bool, force: bool
    ) -> str:
        live = self.objects.get(key)
        if live is None:
            raise KubeApplyError(f"{r.name}: resource '{import_id}' does not exist")
        if "." in r.type.split(":")[1]:  # a custom resource: no schema input properties
            imported = {"apiVersion": live["apiVersion"], "kind": live["kind"],
                        "metadata": {"name": key[2], "namespace": key[1]}}  # fmt: skip
        else:
            imported = copy.deepcopy(live)
            for path in SERVER_FIELDS:
                _unset(imported, tuple(path.split(".")))
            _unset(imported, ("metadata", "annotations", LAST_APPLIED))
            if not (imported["metadata"].get("annotations")):
                imported["metadata"].pop("annotations", None)
        declared = copy.deepcopy(desired)
        for path in r.options.get("ignoreChanges") or []:  # the imported value stands for an ignored field
            _unset(declared, tuple(path.split(".")))
            value = _at(imported, tuple(path.split(".")))
            if value is not _MISSING:
                _set(declared, tuple(path.split(".")), value)
        if declared == imported:
            if not preview:
                self.state[r.urn] = declared
            return "import"
        if preview:  # preview shows the update; conflicts and replacements surface at up
            return "import+update"
        if key[0] == "Secret" and declared.get("type") != imported.get("type"):
            raise KubeApplyError(
                f"{r.name}: previously-imported resources that still specify an ID may not be replaced; "
                "please remove the `import` declaration from your program (type: replace)"
            )
        force = force or self._legacy(key)
        self._csa_upgrade(key)
        self.ssa(key, self._applied(declared), PULUMI_MANAGER, force)
        self.state[r.urn] = declared
        self.events.append(f"updated {key[0]} {key[1]}/{key[2]}")
        self._await(r, key)
        return "import+update"

    def _update(
        self,
        r: Any,
        key: tuple[str, str, str],
        desired: dict[str, Any],
        provider: Mapping[str, Any],
        preview: bool,
        force: bool,
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
                self.owners.pop(key, None)
                self.events.append(f"deleted {key[0]} {key[1]}/{key[2]}")
                self.ssa(key, self._applied(desired), PULUMI_MANAGER, force=False)
            else:
                force = force or self._legacy(key)
                self._csa_upgrade(key)
                self.ssa(key, self._applied(desired), PULUMI_MANAGER, force)
                self.events.append(f"updated {key[0]} {key[1]}/{key[2]}")
            self.state[r.urn] = desired
            self._await(r, key)
        return op

    # ------------------------------------------------------------------------------------------- waits
    def _await(self, r: Any, key: tuple[str, str, str]) -> None:
        """Without ``pulumi.com/waitFor`` the apply returns at once (the operator acts later); with it, the
        condition is checked as the object stands, and the operator acts until it holds or gives up."""
        wait_for = ((self.objects[key].get("metadata") or {}).get("annotations") or {}).get("pulumi.com/waitFor")
        if not wait_for:
            return
        if not self._holds(key, wait_for):
            self.operator(self.objects[key])
            if not self._holds(key, wait_for):
                message = ((self.objects[key].get("status") or {}).get("message")) or "no status"
                raise KubeApplyError(f"{r.name}: timed out waiting for {wait_for} (10m0s): {message}")
            self.events.append(f"ready {key[0]} {key[1]}/{key[2]} ({wait_for})")
            return
        self.events.append(f"ready {key[0]} {key[1]}/{key[2]} ({wait_for})")
        self.operator(self.objects[key])  # after the wait returned: Ready had no generation to go stale by

    def _holds(self, key: tuple[str, str, str], wait_for: str) -> bool:
        status = self.objects[key].get("status") or {}
        if wait_for.startswith("condition="):
            wanted = wait_for[len("condition=") :]
            return any(
                c.get("type", "").lower() == wanted.lower() and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
        if wait_for == "jsonpath={.status.applied}=true":
            return status.get("applied") is True
        raise KubeApplyError(f"unsupported waitFor {wait_for!r} in the stand-in")

    def cnpg(self, obj: dict[str, Any]) -> None:
        """CNPG's operator reconciling ``obj``: a Cluster becomes Ready (a condition without
        observedGeneration) and records the generation it reconciled in ``events``; a DatabaseRole is
        applied unless its role is inline in its Cluster's ``spec.managed.roles``."""
        key = self.key(obj)
        if obj["kind"] == "Cluster":
            obj["status"] = {"phase": "Cluster in healthy state", "conditions": [{"type": "Ready", "status": "True"}]}
            self.events.append(f"reconciled {key[0]} {key[1]}/{key[2]} generation {obj['metadata'].get('generation')}")
        elif obj["kind"] == "DatabaseRole":
            cluster = self.objects.get(("Cluster", key[1], obj["spec"]["cluster"]["name"])) or {}
            roles = _at(cluster, ("spec", "managed", "roles"))
            inline = {role.get("name") for role in (roles if isinstance(roles, list) else [])}
            if obj["spec"]["name"] in inline:
                obj["status"] = {"applied": False, "message": "database role is already managed by the CNPG cluster"}
            else:
                obj["status"] = {"applied": True, "observedGeneration": obj["metadata"].get("generation", 1)}


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
