"""Resolve every secret reference the stack uses, once per run, in one batch.

``resolve_all(cfg)`` collects the references of the whole stack config, resolves the ``op://`` ones
with a single ``client.secrets.resolve_all`` call of the official 1Password SDK, the ``env:`` ones
from the environment and the ``config:`` ones from Pulumi secret config, and returns
:class:`ResolvedSecrets`, whose values are only ever handed out as ``pulumi.Output.secret``.

Pulumi's Python runtime executes the program inside a running event loop, so the async SDK runs in a
worker thread with its own loop (``asyncio.run`` in a ``ThreadPoolExecutor``).

Errors never carry a secret value: a wrong field lists the item's field *labels* only.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pulumi
import pulumi.runtime

from components.config.base import NAMESPACE, UNDECRYPTABLE
from components.config.stack import StackConfig
from components.monitoring.config import resolved_problems
from components.secrets.refs import SecretRef

TOKEN_VARIABLE = "OP_SERVICE_ACCOUNT_TOKEN"
INTEGRATION_VERSION = "0.1.0"

T = TypeVar("T")

# A secret value goes into .pgpass lines, Secrets and scripts: a line break or NUL in it would split or hide a
# line (a trailing newline is the usual `export VAR="$(cat file)"`-style accident). Refused, never stripped.
_LINE_BREAK_OR_NUL = re.compile(r"[\r\n\x00]")
_BROKEN_VALUE = {
    "env": "environment variable {ref.target} {what}; a password is one line: export it without",
    "config": "config key {ref.target} {what}; a password is one line: set it again without",
    "op": "the secret {what}; a password is one line (a .pgpass line cannot carry it)",
}
# Fields whose secret may span lines (an OpenSSH private key).
MULTILINE_FIELDS = (".privateKey",)


class SecretResolutionError(pulumi.RunError):
    """One or more secret references could not be resolved. ``problems``: ``(reference, message)``."""

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        lines = "\n  ".join(f"{ref}: {message}" for ref, message in self.problems)
        super().__init__(f"could not resolve {len(self.problems)} secret reference(s):\n  {lines}")


class OnePasswordClient(Protocol):
    """The part of ``onepassword.Client`` pg-dr uses (a test double implements the same interface)."""

    secrets: Any  # .resolve_all(list[str]) -> ResolveAllResponse
    vaults: Any  # .list() -> list[VaultOverview]
    items: Any  # .list(vault_id) -> list[ItemOverview]; .get(vault_id, item_id) -> Item


ClientFactory = Callable[[], Awaitable[OnePasswordClient]]


@dataclass(frozen=True)
class ResolutionMode:
    """How references become values. The CLI always resolves; ``pg-dr render`` may use placeholders."""

    placeholders: bool = False
    client_factory: ClientFactory | None = None
    environ: Mapping[str, str] | None = None
    # Told every resolved value (the offline engine uses it to refuse writing any of them to disk).
    on_resolved: Callable[[Iterable[str]], None] | None = None
    # The offline engine: `secure:` stack values are never decrypted (they arrive as UNDECRYPTABLE).
    offline: bool = False


_MODE = ResolutionMode()


def set_resolution_mode(mode: ResolutionMode) -> ResolutionMode:
    """Set how the next ``resolve_all`` resolves (used by the offline engine and tests); returns the old mode."""
    global _MODE
    previous, _MODE = _MODE, mode
    return previous


@dataclass
class ResolvedSecrets:
    """Resolved secret values, handed out only as secret Outputs."""

    _values: dict[SecretRef, str] = field(default_factory=dict, repr=False)
    placeholders: bool = False

    def get(self, ref: SecretRef) -> pulumi.Output[str]:
        if ref not in self._values:
            raise KeyError(f"secret reference {ref} was not collected by resolve_all")
        return pulumi.Output.secret(self._values[ref])

    def __contains__(self, ref: object) -> bool:
        return ref in self._values

    def __repr__(self) -> str:  # never show values
        return f"ResolvedSecrets({sorted(str(r) for r in self._values)}, placeholders={self.placeholders})"


def resolve_all(cfg: StackConfig, mode: ResolutionMode | None = None) -> ResolvedSecrets:
    """Resolve every reference ``cfg`` uses, once, in one batch per backend.

    What the config alone shows (a ``config:`` key that is missing or not secret; offline, a plaintext value
    posing as a secure one) is an error in every mode, placeholders included.
    """
    mode = mode or _MODE
    used = cfg.secret_refs()
    refs = sorted({ref for _, ref in used})
    labels = _labels(used)
    problems = _config_problems(refs, labels, mode)
    if problems:
        raise SecretResolutionError(problems)
    if mode.placeholders:
        return ResolvedSecrets({ref: ref.placeholder for ref in refs}, placeholders=True)
    environ = os.environ if mode.environ is None else mode.environ
    values: dict[SecretRef, str] = {}
    for ref in refs:
        if ref.scheme == "env":
            if environ.get(ref.target):
                values[ref] = environ[ref.target]
            else:
                problems.append((str(ref), f"environment variable {ref.target} is not set or empty"))
        elif ref.scheme == "config":
            value = str(pulumi.runtime.get_config(_full_key(ref.target)))
            if value == UNDECRYPTABLE:
                problems.append((str(ref), f"config key {_full_key(ref.target)} {_ENCRYPTED}"))
            else:
                values[ref] = value
        elif ref.scheme == "secure":
            if ref.value == UNDECRYPTABLE:
                problems.append((labels[ref], f"a secure config value {_ENCRYPTED}"))
            else:
                values[ref] = ref.value or ""
    op_refs = [ref for ref in refs if ref.scheme == "op"]
    if op_refs:
        factory = mode.client_factory or _sdk_client_factory(cfg, environ)
        op_values, op_problems = _run_in_worker(lambda: _resolve_onepassword(factory, op_refs))
        values.update(op_values)
        problems += op_problems
    problems += _multiline_problems(cfg, values, labels)
    problems += _monitoring_problems(cfg, values)
    if problems:
        raise SecretResolutionError(problems)
    if mode.on_resolved is not None:
        mode.on_resolved(values.values())
    return ResolvedSecrets(values)


_ENCRYPTED = "is encrypted and only the Pulumi CLI can decrypt it (render without --resolve-secrets)"


def _labels(used: list[tuple[str, SecretRef]]) -> dict[SecretRef, str]:
    """How messages name a reference: as written, or for a secure value (never shown) the keys that hold it."""
    paths: dict[SecretRef, list[str]] = {}
    for path, ref in used:
        paths.setdefault(ref, []).append(f"{NAMESPACE}:{path}")
    return {ref: ", ".join(where) if ref.scheme == "secure" else str(ref) for ref, where in paths.items()}


def _full_key(key: str) -> str:
    return key if ":" in key else f"{NAMESPACE}:{key}"


def _config_problems(
    refs: list[SecretRef], labels: Mapping[SecretRef, str], mode: ResolutionMode
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for ref in refs:
        if ref.scheme == "config":
            full = _full_key(ref.target)
            if pulumi.runtime.get_config(full) is None:
                problems.append(
                    (str(ref), f"config key {full} is not set (pulumi config set --secret {ref.target} ...)")
                )
            elif not pulumi.runtime.is_config_secret(full):
                problems.append(
                    (str(ref), f"config key {full} is stored in plaintext; set it with `pulumi config set --secret`")
                )
        elif ref.scheme == "secure" and mode.offline and ref.value != UNDECRYPTABLE:
            # Offline nothing is decrypted, so a value that is not the placeholder was plaintext in the file. The
            # CLI cannot tell (it marks the whole section secret because another value in it is encrypted).
            problems.append(
                (labels[ref], "a plaintext secret in the stack file (beside an encrypted value in the same section): "
                 "set it with `pulumi config set --secret --path`, or use op://, env: or config:")
            )  # fmt: skip
    return problems


def _multiline_problems(
    cfg: StackConfig, values: Mapping[SecretRef, str], labels: Mapping[SecretRef, str]
) -> list[tuple[str, str]]:
    """Passwords are one line; only a private key (PEM) may hold line breaks."""
    single_line = {ref for path, ref in cfg.secret_refs() if not path.endswith(MULTILINE_FIELDS)}
    problems: list[tuple[str, str]] = []
    for ref in sorted(single_line & set(values)):
        value = values[ref]
        if _LINE_BREAK_OR_NUL.search(value):
            stripped = value.rstrip("\r\n")
            trailing = stripped != value and not _LINE_BREAK_OR_NUL.search(stripped)
            what = "ends in a newline" if trailing else "holds a line break or NUL byte"
            message = _BROKEN_VALUE.get(ref.scheme, _BROKEN_VALUE["op"]).format(ref=ref, what=what)
            problems.append((labels.get(ref, str(ref)), message))
    return problems


def _monitoring_problems(cfg: StackConfig, values: Mapping[SecretRef, str]) -> list[tuple[str, str]]:
    """A ping URL, ntfy server or topic that is a secret is checked once resolved (a plain one at load)."""
    sections = [("backup", cfg.backup.monitoring if cfg.backup else None), ("drill", cfg.drill.monitoring)]
    problems: list[tuple[str, str]] = []
    for section, monitoring in sections:
        if monitoring is not None:
            resolved = {ref: values[ref] for ref in monitoring.secret_refs() if ref in values}
            problems += resolved_problems(f"{NAMESPACE}:{section}.monitoring", monitoring, resolved)
    return problems


def _run_in_worker(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a fresh loop in a worker thread (Pulumi's loop is already running)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-dr-secrets") as pool:
        return pool.submit(lambda: asyncio.run(fn())).result()


def _sdk_client_factory(cfg: StackConfig, environ: Mapping[str, str]) -> ClientFactory:
    async def factory() -> OnePasswordClient:
        from onepassword import Client, DesktopAuth

        auth: Any
        if cfg.secrets.desktop_account:
            auth = DesktopAuth(account_name=cfg.secrets.desktop_account)
        elif environ.get(TOKEN_VARIABLE):
            auth = environ[TOKEN_VARIABLE]
        else:
            raise _AuthMissing(
                f"{TOKEN_VARIABLE} is not set: export a 1Password service account token, "
                f"or set pg-dr:secrets.desktopAccount to use the 1Password desktop app"
            )
        return await Client.authenticate(
            auth=auth, integration_name=cfg.secrets.integration_name, integration_version=INTEGRATION_VERSION
        )

    return factory


class _AuthMissing(Exception):
    pass


async def _resolve_onepassword(
    factory: ClientFactory, refs: list[SecretRef]
) -> tuple[dict[SecretRef, str], list[tuple[str, str]]]:
    try:
        client = await factory()
    except _AuthMissing as exc:
        return {}, [(str(ref), str(exc)) for ref in refs]
    except Exception as exc:  # the SDK raises plain exceptions for auth failures
        return {}, [(str(ref), f"1Password authentication failed: {exc}") for ref in refs]
    try:
        response = await client.secrets.resolve_all([str(ref) for ref in refs])
    except Exception as exc:  # the whole batch failed: rate limit, expired desktop session, network
        return {}, [(_batch_label(refs), f"1Password could not resolve the batch: {_one_line(exc)}")]
    values: dict[SecretRef, str] = {}
    problems: list[tuple[str, str]] = []
    for ref in refs:
        answer = response.individual_responses.get(str(ref))
        if answer is None:
            problems.append((str(ref), "1Password returned no answer for this reference"))
        elif answer.error is not None:
            problems.append((str(ref), await _explain(client, ref, answer.error)))
        else:
            values[ref] = answer.content.secret
    return values, problems


def _batch_label(refs: list[SecretRef]) -> str:
    return str(refs[0]) if len(refs) == 1 else f"{refs[0]} and {len(refs) - 1} more op:// reference(s)"


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """The exception as one short line: its type and the first line of its message (no secret is in it:
    the SDK raises before or instead of answering)."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _explain(client: OnePasswordClient, ref: SecretRef, error: Any) -> str:
    kind = getattr(getattr(error, "type", None), "value", None) or str(getattr(error, "type", "error"))
    vault, item, *rest = ref.target[len("op://") :].split("/")
    messages = {
        "vaultNotFound": f"vault {vault!r} not found (or not shared with this service account)",
        "itemNotFound": f"item {item!r} not found in vault {vault!r}",
        "tooManyVaults": f"more than one vault is named {vault!r}: use the vault ID",
        "tooManyItems": f"more than one item is named {item!r}: use the item ID",
        "noMatchingSections": f"no section {rest[0]!r} in item {item!r}" if len(rest) > 1 else "no such section",
        "tooManyMatchingFields": f"more than one field matches {rest[-1]!r} in item {item!r}",
        "parsing": f"malformed reference: {getattr(error, 'message', '')}",
    }
    if kind == "fieldNotFound":
        labels = await _field_labels(client, vault, item)
        listing = ", ".join(labels) if labels else "(could not list the item's fields)"
        return f"field {rest[-1]!r} not found in item {item!r} (fieldNotFound); the item's fields are: {listing}"
    return f"{messages.get(kind, getattr(error, 'message', None) or kind)} ({kind})"


async def _field_labels(client: OnePasswordClient, vault: str, item: str) -> list[str]:
    """The item's field labels (``section/field`` for fields in a section). Never values."""
    try:
        vaults = await client.vaults.list()
        vault_id = next(v.id for v in vaults if vault in (v.id, v.title))
        items = await client.items.list(vault_id)
        item_id = next(i.id for i in items if item in (i.id, i.title))
        full = await client.items.get(vault_id, item_id)
    except (StopIteration, Exception):
        return []
    sections = {s.id: s.title for s in getattr(full, "sections", None) or []}
    labels = []
    for f in full.fields:
        section = sections.get(getattr(f, "section_id", None) or "")
        labels.append(f"{section}/{f.title}" if section else f.title)
    return labels
