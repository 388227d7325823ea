"""Let rules see which values the engine marked secret.

The engine sends policy packs resource properties with secrets in their secret envelope, but
pulumi-policy's analyzer unwraps them to plain values before a rule runs (``deserialize_properties``
without ``proxy_secrets``), so "does this command receive a secret?" could not be answered.
:func:`install` wraps that deserializer so every string inside a secret arrives as a
:class:`SecretStr`: still a ``str`` to every rule, but recognisable by :func:`contains_secret`.
Non-string secret leaves (numbers, booleans) stay plain; the rules only need strings.

Installed by ``policy/__main__.py`` before the pack serves, and by the test harness, which drives the
same servicer. Pinned to pulumi-policy 1.21.0; :func:`install` fails loudly if the SDK changed shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi_policy.policy as sdk_policy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.version import VERSION

SUPPORTED_VERSION = "1.21.0"


class SecretStr(str):
    """A string the engine sent inside a secret."""

    __slots__ = ()


def _mark(value: Any) -> Any:
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, dict):
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v) for v in value]
    return value


def unwrap_marking(value: Any) -> Any:
    """Wire properties (``MessageToDict`` of the request) with secret envelopes replaced by marked values."""
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return _mark(unwrap_marking(value.get("value")))
        return {k: unwrap_marking(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_marking(v) for v in value]
    return value


def contains_secret(value: Any) -> bool:
    """Whether a property value is, or holds, a string the engine marked secret."""
    if isinstance(value, SecretStr):
        return True
    if isinstance(value, Mapping):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return any(contains_secret(v) for v in value)
    return False


def _keeping_secrets(original: Callable[..., Any]) -> Callable[..., Any]:
    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
        if proxy_secrets:  # remediation keeps its own secret proxies
            return original(props, proxy_secrets)
        return original(unwrap_marking(props), proxy_secrets)

    deserialize_properties.keeps_secrets = True  # type: ignore[attr-defined]
    return deserialize_properties


def install() -> None:
    """Make the analyzer hand rules :class:`SecretStr` values for secrets (idempotent)."""
    current = getattr(sdk_policy, "deserialize_properties", None)
    if VERSION != SUPPORTED_VERSION or not callable(current):
        raise RuntimeError(
            f"policy/secret_marks.py supports pulumi-policy {SUPPORTED_VERSION}, found {VERSION}: "
            "re-check how the analyzer deserializes properties before upgrading"
        )
    if not getattr(current, "keeps_secrets", False):
        sdk_policy.deserialize_properties = _keeping_secrets(current)
