"""Secret resolution: one batch, secret Outputs, actionable errors that never carry a value."""

from __future__ import annotations

import asyncio

import pytest
from onepassword.errors import DesktopSessionExpiredException, RateLimitExceededException

from components.config.stack import parse_stack_config
from components.secrets.resolver import ResolutionMode, SecretResolutionError, resolve_all
from tests.support.onepassword_fake import FakeOnePassword
from tests.support.stacks import BASE, raw_sections

PASSWORD = "s3cr:et\\ pass"


def _op(**fields: str) -> FakeOnePassword:
    return FakeOnePassword({"blumeops": {"borgmatic": {"username": "borgmatic", **fields}}})


def _cfg(password: str = "op://blumeops/borgmatic/db-password", **secrets):
    raw = raw_sections(BASE)
    raw["cluster"]["roles"][0]["password"] = password
    for db in raw["backup"]["databases"]:
        db["password"] = password
    raw["secrets"].update(secrets)
    return parse_stack_config(raw)


def test_one_batch_for_every_reference() -> None:
    op = FakeOnePassword({"blumeops": {"borgmatic": {"db-password": PASSWORD}, "eblume": {"db-password": "other"}}})
    raw = raw_sections(BASE)
    raw["cluster"]["roles"].append({"name": "eblume", "login": True, "password": "op://blumeops/eblume/db-password"})
    resolved = resolve_all(parse_stack_config(raw), ResolutionMode(client_factory=op.factory))
    batches = [args for call, args in op.calls if call == "resolve_all"]
    assert batches == [["op://blumeops/borgmatic/db-password", "op://blumeops/eblume/db-password"]]
    assert "s3cr" not in repr(resolved)


def test_wrong_field_lists_labels_never_values() -> None:
    op = _op(**{"db-password": PASSWORD, "notes/hint": "a hint value"})
    with pytest.raises(SecretResolutionError) as err:
        resolve_all(_cfg("op://blumeops/borgmatic/password"), ResolutionMode(client_factory=op.factory))
    message = str(err.value)
    assert "op://blumeops/borgmatic/password: field 'password' not found in item 'borgmatic'" in message
    assert "the item's fields are: username, db-password, notes/hint" in message
    assert PASSWORD not in message and "a hint value" not in message


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("op://blumeops/missing/db-password", "item 'missing' not found in vault 'blumeops' (itemNotFound)"),
        ("op://nowhere/borgmatic/db-password", "vault 'nowhere' not found"),
    ],
)
def test_missing_item_or_vault_names_the_reference(reference: str, expected: str) -> None:
    with pytest.raises(SecretResolutionError) as err:
        resolve_all(_cfg(reference), ResolutionMode(client_factory=_op(**{"db-password": "x"}).factory))
    assert f"{reference}: {expected}" in str(err.value)


def test_missing_token_names_the_variable() -> None:
    with pytest.raises(SecretResolutionError) as err:
        resolve_all(_cfg(), ResolutionMode(environ={}))
    assert "OP_SERVICE_ACCOUNT_TOKEN is not set" in str(err.value)
    assert "pg-dr:secrets.desktopAccount" in str(err.value)


def test_env_references_come_from_the_environment() -> None:
    cfg = _cfg("env:PG_DR_TEST_PASSWORD", provider="env")
    with pytest.raises(SecretResolutionError) as err:
        resolve_all(cfg, ResolutionMode(environ={}))
    assert "env:PG_DR_TEST_PASSWORD: environment variable PG_DR_TEST_PASSWORD is not set" in str(err.value)
    resolved = resolve_all(cfg, ResolutionMode(environ={"PG_DR_TEST_PASSWORD": PASSWORD}))
    assert len(resolved._values) == 1


def test_placeholders_need_no_backend() -> None:
    resolved = resolve_all(_cfg(), ResolutionMode(placeholders=True, environ={}))
    (value,) = resolved._values.values()
    assert value == "<unresolved op://blumeops/borgmatic/db-password>"


def test_resolves_inside_a_running_event_loop() -> None:
    """Pulumi runs the program inside its event loop; the async SDK must still work (worker thread)."""
    op = _op(**{"db-password": PASSWORD})

    async def program() -> int:
        return len(resolve_all(_cfg(), ResolutionMode(client_factory=op.factory))._values)

    assert asyncio.run(program()) == 1


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (
            RateLimitExceededException("rate limit exceeded\nretry after 60s"),
            "RateLimitExceededException: rate limit exceeded",
        ),
        (DesktopSessionExpiredException("the desktop session expired"), "DesktopSessionExpiredException: the desktop"),
        (RuntimeError(), "RuntimeError"),
    ],
    ids=["rate-limit", "expired-session", "bare"],
)
def test_a_failure_of_the_whole_batch_is_the_resolvers_one_line_error(raised: Exception, expected: str) -> None:
    op = _op(**{"db-password": PASSWORD})
    op.fail_with = raised
    with pytest.raises(SecretResolutionError) as err:
        resolve_all(_cfg(), ResolutionMode(client_factory=op.factory))
    ((ref, message),) = err.value.problems
    assert ref == "op://blumeops/borgmatic/db-password"
    assert message.startswith(f"1Password could not resolve the batch: {expected}")
    assert str(err.value).count("\n") == 1  # the heading and one problem line
    assert PASSWORD not in str(err.value)
