"""Building blocks of the stack config: the base model, value types, and the error that names keys."""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import posixpath
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

from components.config.host_key import check_host_key

NAMESPACE = "pg-dr"
SECTIONS = ("secrets", "tailnet", "cluster", "backup", "drill")
# What the offline engine passes for a `secure:` stack value it cannot decrypt (only the CLI can).
UNDECRYPTABLE = "[encrypted config value: not readable offline]"


# Every pattern is applied with fullmatch: `$` also matches before a final newline ("blumeops-pg\n").
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
_TAG = re.compile(r"tag:[A-Za-z0-9][A-Za-z0-9_-]*")
_PG_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# C0 and C1 controls, DEL and the Unicode line/paragraph separators: a line break or NUL in a name, host,
# path or label ends up in a unit file, a script or a plist as something else. And what a reviewer cannot
# see: bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder the text shown in
# summary.md or a script from the text that runs, and zero-width/invisible characters (U+200B-U+200F, the
# LRM/RLM marks, U+2060-U+2064, U+061C, U+180E, U+FEFF) make two different values look the same.
_INVISIBLE = r"\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2060-\u2064\u061c\u180e\ufeff"
_CONTROL = re.compile(rf"[\x00-\x1f\x7f-\x9f\u2028\u2029{_INVISIBLE}]")
INVISIBLE = re.compile(f"[{_INVISIBLE}]")
"""Bidi controls and invisible characters alone (for files, whose tabs and line breaks are fine)."""
# Names PostgreSQL reads as something else than a role where a role is named, even double-quoted
# ("public", "none": gram.y's RoleSpec), or as the session's role unquoted (current_user, session_user,
# current_role): CREATE ROLE or a login with them fails, or grants land elsewhere.
RESERVED_ROLE_SPECS = frozenset({"public", "none", "current_user", "session_user", "current_role"})


class ConfigError(pulumi.RunError):
    """A stack configuration error. ``problems`` holds ``(key path, message)`` pairs."""

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        lines = [f"{path}: {message}" for path, message in self.problems]
        super().__init__(
            f"invalid stack configuration ({len(lines)} problem{'s' if len(lines) != 1 else ''}):\n  "
            + "\n  ".join(lines)
        )


def suggest(word: str, known: Iterable[str], listing: bool = True) -> str:
    """`` (did you mean 'x'?)`` for the nearest known word, else the list of known words (for messages);
    with ``listing=False`` nothing when no word is near."""
    known = list(known)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(known)})" if listing else ""


def _check(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def control_character_problem(value: str) -> str | None:
    """Why ``value`` is refused for holding a control character, or None (names no secret: shows the character)."""
    found = _CONTROL.search(value)
    if found is None:
        return None
    return f"contains a control character ({found.group()!r} at position {found.start()})"


def _no_control(value: str) -> str:
    problem = control_character_problem(value)
    if problem:
        raise ValueError(problem)
    if value == UNDECRYPTABLE:
        # Offline this is where an encrypted value sits. Under the CLI it would arrive decrypted and go into
        # resources unmarked (the CLI marks only the section's key secret): secrets belong in secret fields.
        raise ValueError("is an encrypted (secure) value, but only password and privateKey fields take secrets")
    return value


def _from_cli_number(value: Any) -> Any:
    """A number where text is expected becomes its text: ``pulumi config set --path pg-dr:drill.runId 2``
    stores the integer 2 (with --path the CLI types digit strings as integers), and the user meant "2"; a float
    written by hand (``runId: 1.5``) becomes "1.5". Booleans are not converted (``true`` is never a name, and
    the CLI types only the words true/false), and nothing else is (the section models are strict)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path (LaunchAgents have no PATH and '~' is not expanded)")
    if posixpath.normpath(value) != value.rstrip("/") and value != "/":
        raise ValueError(f"{value!r} must be a normalised absolute path")
    return value


def _hostname(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.split(".")
    if len(value) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            f"{value!r} is not a host name or IP address (dot-separated labels of letters, digits and '-')"
        )
    return value


# RFC 3339 as Go's time.Parse(time.RFC3339) takes it, which is how CNPG (a metav1.Time) reads a date-time.
_RFC3339 = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:[.,][0-9]+)?(?P<zone>Z|[-+](?P<zh>[0-9]{2}):(?P<zm>[0-9]{2}))"
)
# What the Pulumi CLI hands the program for an unquoted YAML date or timestamp: Go's time.Time.String()
# ("2027-01-31 00:00:00 +0000 UTC", "2027-01-31 10:00:00.5 +0200 +0200").
_GO_TIME_STRING = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}) (?P<clock>[0-9]{2}:[0-9]{2}:[0-9]{2})(?P<frac>\.[0-9]{1,9})?"
    r" (?P<sign>[-+])(?P<zh>[0-9]{2})(?P<zm>[0-9]{2}) \S+"
)


def _date_time(value: str) -> str:
    """A date-time CNPG accepts (RFC 3339, checked like Go's time.Parse), normalised from the CLI's form.

    An unquoted ``validUntil: 2027-01-31`` reaches the program as ``2027-01-31 00:00:00 +0000 UTC``: it is
    taken as the instant it names and sent as RFC 3339 (``2027-01-31T00:00:00Z``). Anything else
    (``tomorrow``, ``2027-02-30T00:00:00Z``, a date without a time) is refused here rather than by the
    cluster at ``pulumi up``.
    """
    go = _GO_TIME_STRING.fullmatch(value)
    if go is not None:
        zone = "Z" if go["zh"] == go["zm"] == "00" else f"{go['sign']}{go['zh']}:{go['zm']}"
        value = f"{go['date']}T{go['clock']}{go['frac'] or ''}{zone}"
    found = _RFC3339.fullmatch(value)
    if found is None:
        example = f"{value}T00:00:00Z" if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) else "2027-01-31T00:00:00Z"
        raise ValueError(f"{value!r} is not an RFC 3339 date-time, which CNPG requires (write e.g. {example})")
    try:
        datetime.datetime(*(int(found[k]) for k in ("y", "mo", "d", "h", "mi", "s")))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid date-time ({exc})") from None
    if found["zh"] is not None and (int(found["zh"]) > 23 or int(found["zm"]) > 59):
        raise ValueError(f"{value!r} has an impossible time zone offset")
    return value


Text = Annotated[str, BeforeValidator(_from_cli_number), AfterValidator(_no_control)]
"""Any string field: no control characters; a number the CLI typed is taken as its text."""

DnsName = Annotated[Text, AfterValidator(_check(_DNS1123, "a DNS-1123 name (lowercase letters, digits, '-')"))]
Quantity = Annotated[Text, AfterValidator(_check(_QUANTITY, "a Kubernetes quantity like 10Gi"))]
Tag = Annotated[Text, AfterValidator(_check(_TAG, "a Tailscale tag like tag:k8s"))]
PgIdent = Annotated[Text, AfterValidator(_check(_PG_IDENT, "a PostgreSQL identifier"))]
Hostname = Annotated[Text, AfterValidator(_hostname)]


def _role_name(value: str) -> str:
    if value.lower() in RESERVED_ROLE_SPECS:
        raise ValueError(f"{value!r} is reserved by PostgreSQL as a role specification, not a role name")
    return value


RoleName = Annotated[PgIdent, AfterValidator(_role_name)]
"""A role name: a PostgreSQL identifier that is not PUBLIC, NONE, CURRENT_USER, SESSION_USER or CURRENT_ROLE."""
AbsPath = Annotated[Text, AfterValidator(_absolute)]
HostKey = Annotated[Text, AfterValidator(check_host_key)]
Port = Annotated[int, Field(ge=1, le=65535)]
DateTime = Annotated[Text, AfterValidator(_date_time)]
"""A date-time field (``validUntil``): RFC 3339 as CNPG reads it; the CLI's unquoted-date form is converted."""


class Model(BaseModel):
    """Base: camelCase keys, unknown keys rejected, immutable."""

    # Strict, as the values arrive: a section is JSON, so its types are the YAML 1.2 types of the stack file.
    # Only true/false are booleans (never 1, 0 or "yes"), only integers are integers (never true or "22");
    # text fields are `Text`, which also takes the numbers `pulumi config set --path` writes.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True)


class _NestedProblems(ValueError):
    """Raised inside model validators to report problems at paths below the validated model."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
