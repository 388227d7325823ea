"""Read ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` the way the Pulumi CLI reads them.

The CLI parses both files with Go's ``gopkg.in/yaml.v3``, which follows YAML 1.2 (core schema):

* only ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` are strings);
* a timestamp-like scalar (``runId: 2026-01-19``) stays the string it was written as;
* a key given twice in one mapping is an error ("mapping key ... already defined at line N").

``ruamel.yaml`` reads YAML 1.2 too; a small constructor adds the two yaml.v3 behaviours above. Every
problem is a :class:`StackFileError` whose message names the file, the line and the key, never a value
(a stack file holds ciphertexts and, by mistake, perhaps a plaintext secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode

from components.config.base import suggest

# The top-level keys of a stack file (workspace.ProjectStack in the Pulumi SDK).
STACK_FILE_KEYS = ("config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt")


class StackFileError(Exception):
    """A stack or project file the CLI would refuse, or one that cannot be what its author meant."""


class _Constructor(SafeConstructor):
    """YAML 1.2 as yaml.v3 decodes it into untyped values: timestamps stay strings, duplicate keys fail."""

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


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


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
        return _yaml().load(text)
    except _DuplicateKey as exc:
        raise StackFileError(f"{name}:{exc.line}: duplicate key {exc.key!r} (first at line {exc.first})") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name
        raise StackFileError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except (YAMLError, ConstructorError) as exc:
        raise StackFileError(f"{name}: not valid YAML: {exc}") from None


def read_yaml(path: Path, kind: str = "stack") -> Any:
    try:
        data = path.read_bytes()
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
