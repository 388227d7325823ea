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

from components.keypath import leaves
from offline.declarations import _is_secure
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
    return (leaf for _, leaf in leaves(value) if isinstance(leaf, str))


def fake_secrets_for(config: Mapping[str, Any]) -> FakeSecrets:
    """A fake 1Password and environment answering every reference in ``config`` (a stack's ``config:``)."""
    vaults: dict[str, dict[str, dict[str, str]]] = {}
    environ: dict[str, str] = {}
    resolvable = not _is_secure(dict(config))
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
