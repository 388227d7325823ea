"""Pulumi secure values inside a section, and `config:` references checked at every render."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from components.project import PROJECT_DIR
from components.secrets.refs import SECURE_VALUES_ALLOWED, SecretRef
from components.secrets.resolver import ResolutionMode
from offline import engine
from offline.engine import Secret, iter_plain_strings, reveal
from offline.output import write_render
from tests.support.render import RenderView, render_config
from tests.support.stacks import stack

SECRET = "kubernetes:core/v1:Secret"
DECRYPTED = "Decrypted-by-the-CLI pass"
CIPHERTEXT = {"secure": "v1:c2FsdA==:AAAAAAAA"}


def _with_secure_role(password: object = CIPHERTEXT) -> dict:
    """`pulumi config set --secret --path 'pg-dr:cluster.roles[1].password' ...`"""
    config = stack()
    config["pg-dr:cluster"]["roles"].append({"name": "reporting", "login": True, "password": password})
    return config


def test_an_encrypted_value_in_a_section_renders_offline_as_a_redacted_placeholder(tmp_path: Path) -> None:
    render = render_config(_with_secure_role())
    secret = render.one(SECRET, "blumeops-pg-reporting")
    assert isinstance(secret.inputs["stringData"], Secret)
    assert reveal(secret.inputs["stringData"])["password"] == "<unresolved secure config value>"
    for r in render.resources:
        for path, text in iter_plain_strings(r.inputs):
            assert engine.UNDECRYPTABLE not in text and "v1:" not in text, f"{r.name} {path}"
    for path in write_render(render, tmp_path):
        assert "unresolved secure" not in path.read_text() and "v1:c2Fs" not in path.read_text()


def _as_the_cli_runs_it(config: dict, secret_keys: list[str]) -> RenderView:
    """What `pulumi up` does: the section arrives decrypted as JSON, its key listed as secret."""
    project, defaults = engine.load_project(PROJECT_DIR)
    full, _ = engine.qualify_config(project, {**defaults, **config})
    mode = ResolutionMode(environ={"BORGMATIC_PW": "borgmatic-pw"})
    program = lambda: runpy.run_path(str(PROJECT_DIR), run_name="__main__")  # noqa: E731
    return RenderView.of(engine.run_under_mocks(program, PROJECT_DIR, project, "t", full, secret_keys, mode))


def test_the_decrypted_value_the_cli_passes_becomes_a_secret_output() -> None:
    config = _with_secure_role(DECRYPTED)
    config["pg-dr:secrets"] = {"provider": "env"}
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:BORGMATIC_PW"
    del config["pg-dr:backup"]
    render = _as_the_cli_runs_it(config, ["pg-dr:cluster"])
    secret = render.one(SECRET, "blumeops-pg-reporting")
    assert isinstance(secret.inputs["stringData"], Secret)
    assert reveal(secret.inputs["stringData"])["password"] == DECRYPTED
    for r in render.resources:
        for where in (r.inputs, r.outputs):
            assert all(DECRYPTED not in text for _, text in iter_plain_strings(where)), r.name


def test_a_plaintext_password_in_a_section_not_marked_secret_is_still_refused() -> None:
    config = _with_secure_role(DECRYPTED)
    with pytest.raises(Exception, match=r"pg-dr:cluster\.roles\[1\]\.password: is not a secret reference") as err:
        render_config(config)
    assert DECRYPTED not in str(err.value)


def test_offline_a_plaintext_password_beside_an_encrypted_one_is_refused_by_path() -> None:
    config = _with_secure_role()
    config["pg-dr:cluster"]["roles"].append({"name": "other", "login": True, "password": "hunter2-plain"})
    with pytest.raises(Exception, match=r"pg-dr:cluster\.roles\[2\]\.password: a plaintext secret") as err:
        render_config(config)
    assert "hunter2" not in str(err.value)


def test_resolving_offline_names_the_keys_only_the_cli_can_decrypt() -> None:
    with pytest.raises(Exception, match=r"pg-dr:cluster\.roles\[1\]\.password: a secure config value is encrypted"):
        render_config(_with_secure_role(), resolve_secrets=True, environ={}, onepassword_client=None)


def _config_ref_stack(value: object | None) -> dict:
    config = stack()
    config["pg-dr:secrets"] = {"provider": "config"}
    config["pg-dr:cluster"]["roles"][0]["password"] = "config:borgmaticPassword"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "config:borgmaticPassword"
    if value is not None:
        config["pg-dr:borgmaticPassword"] = value
    return config


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, r"config:borgmaticPassword: config key pg-dr:borgmaticPassword is not set"),
        ("plaintext-password", r"config key pg-dr:borgmaticPassword is stored in plaintext"),
    ],
)
def test_config_references_are_checked_without_resolving_secrets(value: object, expected: str) -> None:
    with pytest.raises(Exception, match=expected) as err:
        render_config(_config_ref_stack(value))
    assert "plaintext-password" not in str(err.value)


def test_a_secure_value_never_shows_in_str_or_repr() -> None:
    token = SECURE_VALUES_ALLOWED.set(True)
    try:
        ref = SecretRef.parse(DECRYPTED)
    finally:
        SECURE_VALUES_ALLOWED.reset(token)
    assert ref.scheme == "secure" and ref.value == DECRYPTED
    assert DECRYPTED not in f"{ref} {ref!r} {[ref]} {ref.placeholder}"


def test_an_encrypted_value_in_a_field_that_is_not_secret_is_refused_offline() -> None:
    """Under the CLI it would arrive decrypted and land in resources unmarked."""
    config = stack()
    config["pg-dr:backup"]["user"] = CIPHERTEXT
    with pytest.raises(Exception, match=r"pg-dr:backup\.user: is an encrypted \(secure\) value, but only password"):
        render_config(config)
