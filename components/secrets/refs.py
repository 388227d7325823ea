"""Secret references: where a secret lives, never the secret itself (except a Pulumi secure value).

Four forms are accepted wherever the stack config takes a password or key:

* ``op://vault/item[/section]/field`` - a 1Password secret reference (validated offline by the SDK);
* ``env:NAME`` - an environment variable of the process running ``pulumi``;
* ``config:KEY`` - a Pulumi secret config value (``pulumi config set --secret KEY``), in the project
  namespace unless KEY is qualified (``ns:key``);
* a Pulumi secure value inside the section, the usual Pulumi way:
  ``pulumi config set --secret --path 'pg-dr:cluster.roles[1].password' ...`` stores ``{secure: v1:...}``
  in the section. The CLI decrypts it and passes the whole section as JSON with the plaintext in place,
  marking the *section's key* secret (it does not say which value was encrypted). So in a section the CLI
  marks secret, a secret field that holds no reference is taken as that decrypted value (scheme
  ``secure``); in any other section it is a plaintext secret in a stack file and refused. The value is
  kept out of ``str``/``repr`` and only ever handed out as a secret Output.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from components.config.base import control_character_problem

Scheme = Literal["op", "env", "config", "secure"]

# True while the section being validated is one the CLI marks secret (see the module docstring).
SECURE_VALUES_ALLOWED: ContextVar[bool] = ContextVar("pg_dr_secure_values_allowed", default=False)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONFIG_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*:)?[A-Za-z][A-Za-z0-9_.-]*")


def validate_op_reference(reference: str) -> None:
    """Check an ``op://`` reference's syntax offline with the 1Password SDK; raise ValueError."""
    from onepassword.secrets import Secrets

    try:
        Secrets.validate_secret_reference(reference)
    except Exception as exc:  # the SDK raises a bare Exception with a readable message
        raise ValueError(str(exc)) from None


@dataclass(frozen=True, order=True)
class SecretRef:
    """A parsed secret reference. ``str(ref)`` gives back the reference exactly as written."""

    scheme: Scheme
    target: str
    value: str | None = field(default=None, repr=False)  # the decrypted secret of a `secure` value only

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        if not isinstance(text, str):
            raise ValueError("must be a secret reference string (op://..., env:NAME or config:KEY)")
        if SECURE_VALUES_ALLOWED.get() and not text.startswith(("op://", "env:", "config:")):
            return cls("secure", "", text)
        problem = control_character_problem(text)
        if problem:
            raise ValueError(problem)
        if text.startswith("op://"):
            validate_op_reference(text)
            return cls("op", text)
        if text.startswith("env:"):
            name = text[4:]
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{text!r}: env: needs an environment variable name like env:BORGMATIC_PASSWORD")
            return cls("env", name)
        if text.startswith("config:"):
            key = text[7:]
            if not _CONFIG_KEY.fullmatch(key):
                raise ValueError(f"{text!r}: config: needs a config key like config:borgmaticPassword")
            return cls("config", key)
        raise ValueError(
            "is not a secret reference: use op://vault/item[/section]/field, env:NAME or config:KEY, or set it "
            "encrypted with `pulumi config set --secret --path` (a plaintext secret in a stack file is refused)"
        )

    def __str__(self) -> str:
        if self.scheme == "secure":
            return "secure config value"
        return self.target if self.scheme == "op" else f"{self.scheme}:{self.target}"

    def __repr__(self) -> str:
        return f"SecretRef({str(self)!r})"

    @property
    def placeholder(self) -> str:
        """The stand-in value used when secrets are not resolved (offline render)."""
        return f"<unresolved {self}>"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any) -> SecretRef:
            return value if isinstance(value, SecretRef) else cls.parse(value)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )
