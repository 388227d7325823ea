"""``config:`` declarations of ``Pulumi.yaml``, checked and applied to a stack's config as the CLI does.

A declaration gives a key a type (string, integer, boolean, array, object), a description, ``secret: true``
and a default (or a fixed value). ``pulumi up`` refuses a stack whose value is not of the declared type,
is not encrypted when declared secret, or is missing with no default; it applies the defaults. An
``object`` is checked only as a mapping: the fields inside are the program's to check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.config.base import suggest
from offline.stackfile import StackFileError, qualified

CONFIG_TYPES = ("string", "integer", "boolean", "array", "object")
_DECLARATION_KEYS = ("type", "items", "description", "secret", "default", "value")
UNSET = object()
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Declaration:
    """One ``config:`` entry of ``Pulumi.yaml`` (a typed declaration, or a shorthand default/value)."""

    key: str  # fully qualified
    type: str | None = None
    items: Any = None
    secret: bool = False
    default: Any = UNSET
    value: Any = UNSET

    @property
    def fallback(self) -> Any:
        return self.value if self.value is not UNSET else self.default


def project_declarations(project: Mapping[str, Any], name: str = "Pulumi.yaml") -> dict[str, Declaration]:
    """The project's config declarations, checked as the CLI checks them (``Project.Validate``)."""
    project_name = str(project["name"])
    found: dict[str, Declaration] = {}
    config = project.get("config") or {}
    if not isinstance(config, Mapping):
        raise StackFileError(f"{name}: config: must be a mapping of keys to declarations")
    for key, decl in config.items():
        full = key if ":" in str(key) else f"{project_name}:{key}"
        own = full.startswith(f"{project_name}:")
        if not isinstance(decl, Mapping):  # shorthand: a default for the project's keys, else a value
            found[full] = Declaration(full, default=decl) if own else Declaration(full, value=decl)
            continue
        unknown = [k for k in decl if k not in _DECLARATION_KEYS]
        if unknown:
            raise StackFileError(
                f"{name}: config {key}: unknown property {unknown[0]!r}{suggest(str(unknown[0]), _DECLARATION_KEYS)}"
            )
        kind = decl.get("type")
        if kind is not None and kind not in CONFIG_TYPES:
            raise StackFileError(f"{name}: config {key}: type must be one of {', '.join(CONFIG_TYPES)}, not {kind!r}")
        if kind == "array" and "items" not in decl:
            raise StackFileError(f"{name}: config {key}: type array needs items")
        if "default" in decl and "value" in decl:
            raise StackFileError(f"{name}: config {key}: has both default and value")
        declaration = Declaration(
            full,
            kind,
            decl.get("items"),
            bool(decl.get("secret", False)),
            decl.get("default", UNSET),
            decl.get("value", UNSET),
        )
        if (
            kind is not None
            and declaration.default is not UNSET
            and type_problem(declaration.default, kind, declaration.items)
        ):
            raise StackFileError(f"{name}: config {key}: the default is not of type {kind}")
        found[full] = declaration
    return found


def type_problem(value: Any, kind: str, items: Any = None) -> str | None:
    """Why a stack value is not of a declared type (``ValidateConfigValue``), or None."""
    if isinstance(value, Mapping) and set(value) == {"secure"}:
        return None if kind == "string" else "an encrypted string"
    if kind == "object":
        return None if isinstance(value, Mapping) else f"{_kind_of(value)}"
    if kind == "array":
        if not isinstance(value, list):
            return _kind_of(value)
        inner = items.get("type") if isinstance(items, Mapping) else None
        for i, item in enumerate(value if inner else []):
            problem = type_problem(item, inner, items.get("items"))
            if problem:
                return f"item {i} is {problem}"
        return None
    if isinstance(value, (Mapping, list)):
        return _kind_of(value)
    if kind == "integer":
        ok = (
            (isinstance(value, int) and not isinstance(value, bool))
            or (isinstance(value, float) and value.is_integer())
            or (isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is not None)
        )
        return None if ok else _kind_of(value)
    if kind == "boolean":
        return None if isinstance(value, bool) or value in ("true", "false") else _kind_of(value)
    return None  # string: every scalar reaches the program as a string


def _kind_of(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"


def _is_secure(value: Any) -> bool:
    if isinstance(value, Mapping):
        return set(value) == {"secure"} or any(_is_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_secure(v) for v in value)
    return False


def apply_project_config(
    config: Mapping[str, Any], declarations: Mapping[str, Declaration], project_name: str, name: str
) -> dict[str, Any]:
    """The stack's config with the project's defaults applied and declared types checked, as ``pulumi up`` does.

    Keys come back fully qualified. ``name`` (the stack file) is used in messages.
    """
    merged = qualified(project_name, config)
    problems: list[str] = []
    missing: list[str] = []
    for key, decl in declarations.items():
        if key in merged:
            problem = type_problem(merged[key], decl.type) if decl.type else None
            if decl.type and problem:
                problems.append(f"{key} must be of type {decl.type} (declared in Pulumi.yaml), not {problem}")
            if decl.secret and not _is_secure(merged[key]):
                problems.append(f"{key} must be encrypted (declared secret): pulumi config set --secret {key}")
        elif decl.fallback is not UNSET:
            merged[key] = decl.fallback
        else:
            missing.append(key)
    if missing:
        problems.append(f"missing configuration value(s) {', '.join(missing)} (declared in Pulumi.yaml, no default)")
    if problems:
        raise StackFileError(f"{name}: " + "; ".join(problems))
    return merged
