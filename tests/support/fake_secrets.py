"""Answers for every secret reference a stack file uses, whatever its vaults or variables are called.

Tests parametrised over the repository's ``Pulumi.*.yaml`` must pass for any valid stack a user adds (its
own ``op://homelab/...`` items, its own ``env:`` variables), not only for the example's: the fake
1Password knows every ``op://`` reference found in the stack and the environment every ``env:`` one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline.stackfile import load_stack_config_file
from tests.support.onepassword_fake import FakeOnePassword


@dataclass(frozen=True)
class FakeSecrets:
    onepassword: FakeOnePassword
    environ: dict[str, str]
    # `config:` references and `secure:` values: only the Pulumi CLI decrypts them, so no offline
    # resolution is possible; such a stack is rendered with placeholders.
    resolvable: bool


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _has_secure(value: Any) -> bool:
    if isinstance(value, Mapping):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def fake_secrets_for(config: Mapping[str, Any]) -> FakeSecrets:
    """A fake 1Password and environment answering every reference in ``config`` (a stack's ``config:``)."""
    vaults: dict[str, dict[str, dict[str, str]]] = {}
    environ: dict[str, str] = {}
    resolvable = not _has_secure(config)
    for n, text in enumerate(sorted(set(_strings(config)))):
        value = f"fake-Secret-{n}:with\\specials"
        if text.startswith("op://"):
            vault, item, *rest = text[len("op://") :].split("/")
            vaults.setdefault(vault, {}).setdefault(item, {})["/".join(rest)] = value
        elif text.startswith("env:"):
            environ[text[len("env:") :]] = value
        elif text.startswith("config:"):
            resolvable = False
    return FakeSecrets(FakeOnePassword(vaults), environ, resolvable)


def fake_secrets_for_file(path: Path) -> FakeSecrets:
    return fake_secrets_for(load_stack_config_file(path))
