"""Building blocks of the stack config: the base model, value types, and the error that names keys."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from typing import Annotated

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

NAMESPACE = "pg-dr"
SECTIONS = ("secrets", "tailnet", "cluster", "backup", "drill")


_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_TAG = re.compile(r"^tag:[A-Za-z0-9][A-Za-z0-9_-]*$")
_PG_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9a-fA-F:.]+\]?$")


class ConfigError(pulumi.RunError):
    """A stack configuration error. ``problems`` holds ``(key path, message)`` pairs."""

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        lines = [f"{path}: {message}" for path, message in self.problems]
        super().__init__(
            f"invalid stack configuration ({len(lines)} problem{'s' if len(lines) != 1 else ''}):\n  "
            + "\n  ".join(lines)
        )


def _check(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path (LaunchAgents have no PATH and '~' is not expanded)")
    if posixpath.normpath(value) != value.rstrip("/") and value != "/":
        raise ValueError(f"{value!r} must be a normalised absolute path")
    return value


def _host_key(value: str) -> str:
    parts = value.split()
    if len(parts) < 2 or not (parts[0].startswith("ssh-") or parts[0].startswith("ecdsa-")):
        raise ValueError("must be a public key line like 'ssh-ed25519 AAAA...' (from ssh-keyscan)")
    return value


DnsName = Annotated[str, AfterValidator(_check(_DNS1123, "a DNS-1123 name (lowercase letters, digits, '-')"))]
Quantity = Annotated[str, AfterValidator(_check(_QUANTITY, "a Kubernetes quantity like 10Gi"))]
Tag = Annotated[str, AfterValidator(_check(_TAG, "a Tailscale tag like tag:k8s"))]
PgIdent = Annotated[str, AfterValidator(_check(_PG_IDENT, "a PostgreSQL identifier"))]
Hostname = Annotated[str, AfterValidator(_check(_HOSTNAME, "a host name or IP address"))]
AbsPath = Annotated[str, AfterValidator(_absolute)]
HostKey = Annotated[str, AfterValidator(_host_key)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Model(BaseModel):
    """Base: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=False
    )


class _NestedProblems(ValueError):
    """Raised inside model validators to report problems at paths below the validated model."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
