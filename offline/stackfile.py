"""Read ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` the way the Pulumi CLI reads them.

The CLI parses both files with Go's ``gopkg.in/yaml.v3``, which follows YAML 1.2 (core schema):

* only ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` are strings);
* an unquoted date is a Go ``time.Time``, which Pulumi hands to the program as ``time.Time.String()``:
  ``runId: 2026-01-19`` reaches the program as ``"2026-01-19 00:00:00 +0000 UTC"`` (quote it to keep it);
* an integer with a leading zero is octal, as in YAML 1.1 (``010`` is 8);
* a key given twice in one mapping is an error ("mapping key ... already defined at line N").

``ruamel.yaml`` reads YAML 1.2 too; a small constructor adds the yaml.v3 behaviours above. Every
problem is a :class:`StackFileError` whose message names the file, the line and the key, never a value
(a stack file holds ciphertexts and, by mistake, perhaps a plaintext secret).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode

from components.bounded_file import FileShapeError, read_regular_file
from components.config.base import suggest

# The top-level keys of a stack file (workspace.ProjectStack in the Pulumi SDK).
STACK_FILE_KEYS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")


class StackFileError(Exception):
    """A stack or project file the CLI would refuse, or one that cannot be what its author meant."""


class _Constructor(SafeConstructor):
    """YAML 1.2 as yaml.v3 decodes it into untyped values (see the module docstring); duplicate keys fail."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKey(key, line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        text = self.construct_scalar(node).replace("_", "")
        digits = text.lstrip("+-")
        if _GO_OCTAL.fullmatch(digits):  # yaml.v3 resolves with strconv.ParseInt(s, 0, 64)
            return (-1 if text.startswith("-") else 1) * int(digits, 8)
        return super().construct_yaml_int(node)

    def construct_go_timestamp(self, node: Any) -> str:
        return go_time_string(self.construct_scalar(node))


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_go_timestamp)

_GO_OCTAL = re.compile(r"0[0-7]+")
# yaml.v3's timestamp layouts ("2006-1-2T15:4:5.999999999Z07:00", the same with "t" or " " and no zone, "2006-1-2").
_GO_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})"
    r"(?:(?:(?P<t>[Tt])|[ ])(?P<h>[0-9]{1,2}):(?P<m>[0-9]{1,2}):(?P<s>[0-9]{1,2})(?:\.(?P<frac>[0-9]{1,9}))?"
    r"(?P<zone>Z|[-+][0-9]{2}:[0-9]{2})?)?"
)


def go_time_string(text: str) -> str:
    """What Pulumi passes for an unquoted YAML timestamp: Go's ``time.Time.String()`` of yaml.v3's parse.

    A scalar yaml.v3 would not parse as a time stays the text as written. A numeric zone other than Z prints
    as Go prints a fabricated zone (``-0500 -0500``); Go uses the local zone's name instead when the offset
    matches it, so such timestamps are machine-dependent under the CLI too: quote them.
    """
    found = _GO_TIMESTAMP.fullmatch(text)
    if found is None or (found["zone"] and not found["t"]) or (found["h"] is None and text != found["date"]):
        return text
    year, month, day = (int(part) for part in found["date"].split("-"))
    clock = (int(found["h"] or 0), int(found["m"] or 0), int(found["s"] or 0))
    try:
        datetime.datetime(year, month, day, *clock)
    except ValueError:
        return text
    frac = (found["frac"] or "").rstrip("0")
    stamp = f"{year:04d}-{month:02d}-{day:02d} {clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}{'.' + frac if frac else ''}"
    zone = found["zone"]
    if zone in (None, "Z", "+00:00", "-00:00"):
        return f"{stamp} +0000 UTC"
    offset = zone.replace(":", "")
    return f"{stamp} {offset} {offset}"


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first: int):
        self.key, self.line, self.first = key, line, first
        super().__init__(f"line {line}: duplicate key {key!r} (first at line {first})")


def _yaml() -> YAML:
    loader = YAML(typ="safe", pure=True)
    loader.Constructor = _Constructor
    loader.allow_duplicate_keys = True  # checked by _Constructor, with a message that names no value
    return loader


def parse_yaml(data: bytes, name: str) -> Any:
    """Parse a YAML document as the CLI does; ``name`` is used in messages."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StackFileError(
            f"{name}: not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); save the file as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")
    try:
        doc = _yaml().load(text)
        try:
            size = _expanded_size(doc, {})
        except _RecursiveAlias:
            raise StackFileError(
                f"{name}: an alias refers to a node that contains it (a value cannot hold itself)"
            ) from None
        if size > MAX_VALUES:  # yaml.v3: "document contains excessive aliasing"
            raise StackFileError(f"{name}: its anchors and aliases expand to more than {MAX_VALUES:,} values")
        return doc
    except _DuplicateKey as exc:
        raise StackFileError(f"{name}:{exc.line}: duplicate key {exc.key!r} (first at line {exc.first})") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        raise StackFileError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except (YAMLError, ConstructorError) as exc:
        raise StackFileError(f"{name}: not valid YAML: {exc}") from None


MAX_FILE_BYTES = 4 * 1024 * 1024  # a stack or project file is a few kilobytes


MAX_VALUES = 1_000_000


class _RecursiveAlias(Exception):
    pass


def _expanded_size(value: Any, seen: dict[int, int]) -> int:
    """How many values ``value`` holds once every alias is expanded (each shared node counted once per use)."""
    if not isinstance(value, (Mapping, list)):
        return 1
    if seen.get(id(value)) == -1:
        raise _RecursiveAlias
    if id(value) not in seen:
        seen[id(value)] = -1
        items = value.values() if isinstance(value, Mapping) else value
        seen[id(value)] = min(1 + sum(_expanded_size(item, seen) for item in items), MAX_VALUES + 1)
    return seen[id(value)]


def read_yaml(path: Path, kind: str = "stack") -> Any:
    """Parse a regular file of bounded size (a FIFO or /dev/zero would hang the read)."""
    try:
        data = read_regular_file(path, MAX_FILE_BYTES)
    except FileShapeError as exc:
        if exc.kind is not None:
            raise StackFileError(f"{path.name} in {path.parent} is not a regular file ({exc.kind})") from None
        raise StackFileError(f"{path.name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB") from None
    except FileNotFoundError:
        raise StackFileError(f"no {kind} file {path.name} in {path.parent}") from None
    except OSError as exc:
        raise StackFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse_yaml(data, path.name)


def stack_config(doc: Any, name: str) -> dict[str, Any]:
    """The ``config:`` mapping of a parsed stack file, checked for the shapes the CLI would not run."""
    if doc is None:
        raise StackFileError(f"{name}: empty; a stack file holds a config: mapping with the stack's pg-dr:* keys")
    if not isinstance(doc, Mapping):
        kind = "a list" if isinstance(doc, list) else f"a {type(doc).__name__} scalar"
        raise StackFileError(f"{name}: must be a mapping with a config: key, not {kind}")
    for key in doc:
        if key not in STACK_FILE_KEYS:
            raise StackFileError(f"{name}: unknown top-level key {key!r}{suggest(str(key), STACK_FILE_KEYS)}")
    if doc.get("environment"):
        raise StackFileError(
            f"{name}: environment: imports Pulumi ESC environments, which an offline render cannot open; "
            "their config would be missing from the render"
        )
    if "config" not in doc:
        raise StackFileError(f"{name}: no config: mapping (the stack's settings live under config:)")
    config = doc["config"]
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise StackFileError(f"{name}: config: must be a mapping of keys to values")
    for key in config:
        if not isinstance(key, str):
            raise StackFileError(f"{name}: config key {key!r} must be a string like pg-dr:backup")
    return dict(config)


def load_stack_config_file(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml``."""
    return stack_config(read_yaml(path), path.name)


def load_project_file(path: Path) -> dict[str, Any]:
    doc = read_yaml(path, "project")
    if not isinstance(doc, Mapping) or not isinstance(doc.get("name"), str):
        raise StackFileError(f"{path.name}: must be a mapping with the project's name:")
    return dict(doc)


def qualified(project: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every key fully qualified (a bare key is in the project namespace), as the CLI has it.

    A key written both bare and qualified (``backup`` and ``pg-dr:backup``) is one key twice: refused.
    """
    out: dict[str, Any] = {}
    written_as: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{project}:{key}"
        if full in written_as:
            raise StackFileError(
                f"{written_as[full]} and {key} are the same config key (bare keys are in the project namespace)"
            )
        written_as[full] = key
        out[full] = value
    return out
