"""Promotion review: what differs between two stacks' renders (``pg-dr diff dev prod``).

Both stacks are rendered offline from the same working tree (secrets as placeholders) and compared on
their review documents (:func:`offline.output.graph`), so secret values are never read and show
as ``"[secret]"`` on both sides.

Pairing. Resources are paired by type and name first. Names usually carry the environment (the dev
Cluster is ``dev-pg``, the prod one ``blumeops-pg``), so the rest are paired by type, (paired) parent
and a shared first or last word of the name, the most similar name and inputs first; such a pair is
shown as ``dev-pg -> blumeops-pg`` and only its real differences are listed. What stays unpaired is
"only in" one stack (``dev-pg-pgdr-drill`` is not taken for ``blumeops-pg-eblume``).

Differences are listed per resource as dotted paths (``inputs.spec.storage.size: "1Gi" -> "10Gi"``);
lists of objects with a ``name`` are compared by name (``roles[name=borgmatic]``), multi-line strings
(scripts, policies) as a unified line diff. Dependencies and parents are compared after translating
renamed resources, so a rename alone is not reported twice.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from components.keypath import key_path, leaves

MISSING = object()
COMPARED_FIELDS = ("protect", "retainOnDelete", "import", "parent", "dependencies", "inputs", "outputs")


@dataclass
class Change:
    path: str
    before: Any  # MISSING when absent in the first stack
    after: Any  # MISSING when absent in the second stack


@dataclass
class ResourcePair:
    type: str
    name_a: str
    name_b: str
    changes: list[Change]


@dataclass
class StackDiff:
    stack_a: str
    stack_b: str
    count_a: int
    count_b: int
    only_a: list[dict[str, Any]] = field(default_factory=list)
    only_b: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ResourcePair] = field(default_factory=list)
    identical: int = 0
    output_changes: list[Change] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.only_a or self.only_b or self.changed or self.output_changes)


def _key(resource: dict[str, Any]) -> str:
    return f"{resource['type']}::{resource['name']}"


def _stack_ref(graph: dict[str, Any]) -> str:
    return f"pulumi:pulumi:Stack::{graph['project']}-{graph['stack']}"


# -------------------------------------------------------------------------------------------- pairing
def _leaves(value: Any) -> Iterator[tuple[str, Any]]:
    for parts, leaf in leaves(value):
        yield key_path(parts), json.dumps(leaf, sort_keys=True)


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[-_.:/]+", name) if w]


def related(name_a: str, name_b: str) -> bool:
    """Names that may be one resource in two environments: same first or last word (dev-pg ~ blumeops-pg)."""
    a, b = _words(name_a), _words(name_b)
    return bool(a and b) and (a[0] == b[0] or a[-1] == b[-1])


def _similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """How alike two resources of one type are: name similarity plus the share of equal input leaves."""
    name = difflib.SequenceMatcher(None, a["name"], b["name"]).ratio()
    leaves_a, leaves_b = set(_leaves(a.get("inputs"))), set(_leaves(b.get("inputs")))
    union = leaves_a | leaves_b
    inputs = len(leaves_a & leaves_b) / len(union) if union else 1.0
    return name + inputs


def pair_resources(
    graph_a: dict[str, Any], graph_b: dict[str, Any]
) -> tuple[list[tuple[dict, dict]], list[dict], list[dict], dict[str, str]]:
    """Pairs (a, b), unpaired of a, unpaired of b, and the rename map from a's refs to b's refs."""
    res_a, res_b = graph_a["resources"], graph_b["resources"]
    keys_b = {_key(r) for r in res_b}
    rename: dict[str, str] = {_stack_ref(graph_a): _stack_ref(graph_b)}
    pairs: list[tuple[dict, dict]] = []
    for r in res_a:
        if _key(r) in keys_b:
            rename[_key(r)] = _key(r)
            pairs.append((r, next(c for c in res_b if _key(c) == _key(r))))
    paired_b = {_key(b) for _, b in pairs}
    # The rest: same type under the same (paired) parent, most similar first. Repeat, because pairing
    # a component lets its children be paired in the next pass.
    while True:
        left_a = [r for r in res_a if _key(r) not in rename]
        left_b = [r for r in res_b if _key(r) not in paired_b]
        scored = sorted(
            (
                (_similarity(a, b), i, j)
                for i, a in enumerate(left_a)
                for j, b in enumerate(left_b)
                if a["type"] == b["type"]
                and a["parent"] in rename
                and rename[a["parent"]] == b["parent"]
                and related(a["name"], b["name"])
            ),
            key=lambda t: (-t[0], t[1], t[2]),
        )
        new = 0
        for _, i, j in scored:
            a, b = left_a[i], left_b[j]
            if _key(a) in rename or _key(b) in paired_b:
                continue
            rename[_key(a)] = _key(b)
            paired_b.add(_key(b))
            pairs.append((a, b))
            new += 1
        if not new:
            break
    order = {id(r): n for n, r in enumerate(res_a)}
    pairs.sort(key=lambda p: order[id(p[0])])
    only_a = [r for r in res_a if _key(r) not in rename]
    only_b = [r for r in res_b if _key(r) not in paired_b]
    return pairs, only_a, only_b, rename


# -------------------------------------------------------------------------------------------- values
def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and isinstance(v.get("name"), str) for v in value)
        and len({v["name"] for v in value}) == len(value)
    )


def _scalars(value: list[Any]) -> bool:
    return all(not isinstance(v, (dict, list)) for v in value)


def diff_values(a: Any, b: Any, path: str) -> Iterator[Change]:
    """Every difference between two JSON-like values, as dotted paths."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{k}" if path else k
            if k not in b:
                yield Change(sub, a[k], MISSING)
            elif k not in a:
                yield Change(sub, MISSING, b[k])
            else:
                yield from diff_values(a[k], b[k], sub)
    elif _named_list(a) and _named_list(b):
        items_a, items_b = {v["name"]: v for v in a}, {v["name"]: v for v in b}
        if [v["name"] for v in a if v["name"] in items_b] != [v["name"] for v in b if v["name"] in items_a]:
            yield Change(f"{path} (order)", [v["name"] for v in a], [v["name"] for v in b])
        for name in list(items_a) + [n for n in items_b if n not in items_a]:
            yield from diff_values(items_a.get(name, MISSING), items_b.get(name, MISSING), f"{path}[name={name}]")
    elif isinstance(a, list) and isinstance(b, list) and not (_scalars(a) and _scalars(b)):
        for i in range(max(len(a), len(b))):
            yield from diff_values(a[i] if i < len(a) else MISSING, b[i] if i < len(b) else MISSING, f"{path}[{i}]")
    elif a is MISSING or b is MISSING or a != b or type(a) is not type(b):
        if a is MISSING and b is MISSING:
            return
        yield Change(path, a, b)


def _translate(graph_resource: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    """The fields compared, with a's references renamed to b's."""
    out = {name: graph_resource.get(name) for name in COMPARED_FIELDS}
    out["parent"] = rename.get(out["parent"], out["parent"]) if out["parent"] else None
    out["dependencies"] = sorted(rename.get(d, d) for d in out["dependencies"] or [])
    return out


def compare(graph_a: dict[str, Any], graph_b: dict[str, Any]) -> StackDiff:
    """Compare two review documents (``graph(render)``) of stacks of one project."""
    pairs, only_a, only_b, rename = pair_resources(graph_a, graph_b)
    result = StackDiff(
        stack_a=graph_a["stack"],
        stack_b=graph_b["stack"],
        count_a=len(graph_a["resources"]),
        count_b=len(graph_b["resources"]),
        only_a=only_a,
        only_b=only_b,
    )
    for a, b in pairs:
        fields_b = {name: b.get(name) for name in COMPARED_FIELDS}
        fields_b["dependencies"] = sorted(fields_b["dependencies"] or [])
        changes = list(_field_changes(_translate(a, rename), fields_b))
        if changes or a["name"] != b["name"]:
            result.changed.append(ResourcePair(a["type"], a["name"], b["name"], changes))
        else:
            result.identical += 1
    result.output_changes = list(diff_values(graph_a.get("outputs", {}), graph_b.get("outputs", {}), "outputs"))
    result.output_changes += diff_values(
        graph_a.get("providerConfig", {}), graph_b.get("providerConfig", {}), "providerConfig"
    )
    return result


def _field_changes(a: dict[str, Any], b: dict[str, Any]) -> Iterator[Change]:
    for name in COMPARED_FIELDS:
        if name == "dependencies":
            removed = [d for d in a[name] if d not in b[name]]
            added = [d for d in b[name] if d not in a[name]]
            if removed or added:
                yield Change(name, removed or MISSING, added or MISSING)
        else:
            yield from diff_values(a[name], b[name], name)


# ------------------------------------------------------------------------------------------ printing
def _show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    return json.dumps(value, sort_keys=True)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value


def format_change(change: Change, indent: str = "      ") -> list[str]:
    if change.path == "dependencies":
        lines = [f"{indent}dependencies:"]
        lines += [f"{indent}  - {d}" for d in (change.before if change.before is not MISSING else [])]
        lines += [f"{indent}  + {d}" for d in (change.after if change.after is not MISSING else [])]
        return lines
    if _is_text(change.before) or _is_text(change.after):
        before = change.before.splitlines() if isinstance(change.before, str) else []
        after = change.after.splitlines() if isinstance(change.after, str) else []
        body = list(difflib.unified_diff(before, after, lineterm="", n=1))[2:]  # drop the ---/+++ header
        return [f"{indent}{change.path}: (text)"] + [f"{indent}  {line}" for line in body]
    return [f"{indent}{change.path}: {_show(change.before)} -> {_show(change.after)}"]


def _where(resource: dict[str, Any]) -> str:
    parent = resource.get("parent") or ""
    return f"  (under {parent.replace('::', ' ')})" if parent and not parent.startswith("pulumi:pulumi:Stack") else ""


def format_diff(diff: StackDiff) -> str:
    a, b = diff.stack_a, diff.stack_b
    lines = [f"--- {a} ({diff.count_a} resources)", f"+++ {b} ({diff.count_b} resources)"]
    if diff.only_a:
        lines += ["", f"only in {a}:"]
        lines += [f"  - {r['type']} {r['name']}{_where(r)}" for r in diff.only_a]
    if diff.only_b:
        lines += ["", f"only in {b}:"]
        lines += [f"  + {r['type']} {r['name']}{_where(r)}" for r in diff.only_b]
    if diff.changed:
        lines += ["", "changed:"]
        for pair in diff.changed:
            names = pair.name_a if pair.name_a == pair.name_b else f"{pair.name_a} -> {pair.name_b}"
            lines.append(f"  ~ {pair.type} {names}")
            for change in pair.changes:
                lines += format_change(change)
    if diff.output_changes:
        lines += ["", "stack outputs and provider settings:"]
        for change in diff.output_changes:
            lines += format_change(change, indent="  ")
    lines += [
        "",
        f"{len(diff.only_a)} only in {a}, {len(diff.only_b)} only in {b}, {len(diff.changed)} changed, "
        f"{diff.identical} identical" + ("" if diff.differs else f": {a} and {b} render the same"),
    ]
    return "\n".join(lines) + "\n"
