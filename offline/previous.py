"""What a render no longer has that the previous render of the same stack had: said loudly, never silently.

Deleting a section from a stack file is valid config, and the next ``pulumi up`` acts on it: without
``pg-dr:backup`` it moves pg-dr's borgmatic config, schedule and pgpass block off the backup host. So
``pg-dr render`` and ``pg-dr check`` compare the graph with the previous one and warn for every section
(component) and resource that is gone. The previous graph is ``--previous PATH`` (a ``graph.json``, a render
directory, or ``none``), else the last render written to ``--out`` (render only), else
``render/<stack>/graph.json`` of the project (check only), else the committed render snapshot
``tests/unit/offline/renders/<stack>/graph.json.snap`` when the project has one.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.bounded_file import FileShapeError, read_regular_file

GRAPH = "graph.json"
SNAPSHOT = Path("tests") / "unit" / "offline" / "renders"
GRAPH_LIMIT = 64 * 1024 * 1024
RETIRE_DOC = "docs/configuration.md#retiring-a-section-or-a-host"
# Which stack-file section registers which component (a component not listed is named by its type).
SECTION_OF = {
    "pg-dr:index:TailnetPolicy": "pg-dr:tailnet",
    "pg-dr:index:CnpgRoles": "pg-dr:cluster",
    "pg-dr:index:BorgmaticHost": "pg-dr:backup",
    "pg-dr:index:RestoreCommand": "pg-dr:backup",
    "pg-dr:index:RestoreDrill": "pg-dr:drill",
    "pg-dr:index:ScheduledDrill": "pg-dr:drill",
}
REMOTE_COMMAND = "command:remote:Command"


class PreviousError(Exception):
    """``--previous`` names nothing readable as a render's graph."""


@dataclass(frozen=True)
class Previous:
    """The previous graph and where it came from (shown in every message)."""

    path: Path
    graph: Mapping[str, Any]


def _graph_file(path: Path) -> Path | None:
    if path.is_dir():
        for name in (GRAPH, GRAPH + ".snap"):
            if (path / name).is_file():
                return path / name
        return None
    return path if path.is_file() else None


def load_previous(path: Path) -> Previous:
    """The graph at ``path`` (a graph.json, or a render or snapshot directory holding one)."""
    found = _graph_file(path)
    if found is None:
        raise PreviousError(f"--previous {path}: no {GRAPH} there (give a render directory, its {GRAPH}, or none)")
    try:
        graph = json.loads(read_regular_file(found, GRAPH_LIMIT, "allowed for a graph"))
    except (OSError, FileShapeError, ValueError) as exc:
        raise PreviousError(f"--previous {found}: not a pg-dr graph ({exc})") from None
    if not isinstance(graph, Mapping) or not isinstance(graph.get("resources"), list):
        raise PreviousError(f"--previous {found}: not a pg-dr graph (no resources list)")
    return Previous(found, graph)


def find_previous(project: Path, stack: str, given: str | None, out: Path | None = None) -> Previous | None:
    """The previous graph to compare with: ``given`` (``none``: no comparison), else the defaults above."""
    if given is not None:
        return None if given == "none" else load_previous(Path(given))
    candidates = [out] if out is not None else [project / "render" / stack]
    candidates.append(project / SNAPSHOT / stack)
    for candidate in candidates:
        if _graph_file(candidate) is not None:
            try:
                return load_previous(candidate)
            except PreviousError:
                continue  # a default that is not a graph is no previous render
    return None


def _key(resource: Mapping[str, Any]) -> tuple[str, str]:
    return str(resource.get("type")), str(resource.get("name"))


def _host(resource: Mapping[str, Any]) -> str | None:
    connection = (resource.get("inputs") or {}).get("connection")
    host = connection.get("host") if isinstance(connection, Mapping) else None
    return host if isinstance(host, str) and host != "[secret]" else None


def _targets(resource: Mapping[str, Any]) -> list[str]:
    """The files a remote command's create script writes (its ``target=<path>`` lines)."""
    create = (resource.get("inputs") or {}).get("create")
    if not isinstance(create, str):
        return []
    try:
        argv = shlex.split(create)
    except ValueError:
        return []
    script = argv[2] if len(argv) == 3 and argv[1] == "-c" else create
    found = []
    for line in script.splitlines():
        if line.startswith("target="):
            try:
                words = shlex.split(line[len("target=") :])
            except ValueError:
                continue
            if len(words) == 1:
                found.append(words[0])
    return found


def removals(previous: Previous, current: Mapping[str, Any]) -> list[str]:
    """One warning per section (component) the previous render had and this one has not, then one for the
    other resources that are gone (the caller compares renders of the same stack only)."""
    now = {_key(r) for r in current.get("resources", [])}
    before = [r for r in previous.graph.get("resources", []) if isinstance(r, Mapping)]
    gone = [r for r in before if _key(r) not in now]
    if not gone:
        return []
    by_ref = {f"{r.get('type')}::{r.get('name')}": r for r in before}

    def top(resource: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while resource.get("parent") in by_ref and seen < len(by_ref):
            resource, seen = by_ref[resource["parent"]], seen + 1
        return resource

    messages: list[str] = []
    gone_keys = {_key(r) for r in gone}
    components = [r for r in gone if str(r.get("type")).startswith("pg-dr:index:") and top(r) is r]
    covered: set[tuple[str, str]] = set()
    by_section: dict[str, list[dict[str, Any]]] = {}
    for component in sorted(components, key=_key):
        by_section.setdefault(SECTION_OF.get(str(component.get("type")), str(component.get("type"))), []).append(
            component
        )
    for section, group in by_section.items():
        members = [r for r in gone if top(r) in group and r not in group]
        covered |= {*(_key(c) for c in group), *(_key(r) for r in members)}
        hosts: dict[str, list[str]] = {}
        for r in members:
            if r.get("type") == REMOTE_COMMAND and _host(r):
                hosts.setdefault(str(_host(r)), []).extend(_targets(r))
        on_hosts = "".join(
            f"; on {host} it takes back what pg-dr delivered ({', '.join(sorted(set(files))) or 'its commands'})"
            for host, files in sorted(hosts.items())
        )
        deleted = " and ".join(f"{c.get('type')} {c.get('name')}" for c in group)
        messages.append(
            f"REMOVED: {section} is gone, but the previous render ({previous.path}) had it: the next `pulumi up` "
            f"deletes {deleted} and {'its' if len(group) == 1 else 'their'} {len(members)} resources{on_hosts}. "
            f"If that is a mistake, restore the section; to retire it on purpose, see {RETIRE_DOC}"
        )
    rest = sorted(k for k in gone_keys - covered)
    if rest:
        listed = ", ".join(f"{t} {n}" for t, n in rest)
        one = len(rest) == 1
        messages.append(
            f"REMOVED: {len(rest)} resource{'' if one else 's'} of the previous render ({previous.path}) "
            f"{'is' if one else 'are'} gone and the next `pulumi up` deletes {'it' if one else 'them'}: {listed}"
        )
    return messages
