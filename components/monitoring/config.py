"""``pg-dr:backup.monitoring`` and ``pg-dr:drill.monitoring``: where a night reports (see docs/monitoring.md).

The same keys for the backup (borgmatic's own monitoring hooks, rendered into pg-dr's borgmatic config)
and the scheduled drill (pinged by its wrapper with curl):

* ``healthchecks: {pingUrl}``: Healthchecks or a server speaking its ping API (start, success, ``/fail``;
  the body carries the log);
* ``ntfy: {topic, server, username + password | accessToken}``: a push notification on failure;
* ``uptimeKuma: {pushUrl}``: an Uptime Kuma push monitor (``?status=up|down``).

A ping URL lets anyone who has it report success, so it should be a secret reference (``op://``,
``env:``, ``config:``); plain text is accepted with a warning. A plain URL is checked here (http or https,
a host, no credentials, no query); a secret one when it is resolved (:func:`url_problem`). Only the
scheme and host are ever shown (:func:`shown_url`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PlainSerializer, PlainValidator, model_validator

from components.config.base import Model, Text, _hostname, _NestedProblems, control_character_problem
from components.secrets.refs import SECURE_VALUES_ALLOWED, SecretRef

REFERENCE_PREFIXES = ("op://", "env:", "config:")
_NTFY_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}")
State = Literal["start", "finish", "fail"]


def url_problem(value: str, *, query: bool = True) -> str | None:
    """Why ``value`` is not a monitoring URL, or None. Never repeats the value (it may be a secret)."""
    problem = control_character_problem(value)
    if problem:
        return problem
    if any(c.isspace() or c in '"\\' for c in value):
        return "contains white space, a quote or a backslash"
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not host:
        return "has no host (write scheme://host/...)"
    try:
        _hostname(host)
    except ValueError:
        return "has no valid host name"
    if parts.username is not None or parts.password is not None:
        return "must not carry user:password@ (use the monitor's own credentials)"
    if not query and (parts.query or value.endswith("?")):
        return "must not carry a query string (pg-dr adds ?status=...)"
    if parts.fragment:
        return "must not carry a #fragment"
    return None


def shown_url(value: str) -> str:
    """What a review may show of a URL: its scheme and host (the path of a ping URL is its secret)."""
    parts = urlsplit(value)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _plain_or_ref(check: Any) -> Any:
    """A validator: a secret reference (or a decrypted secure value) as a SecretRef, else text checked by
    ``check`` (which returns a problem or None)."""

    def validate(value: Any) -> SecretRef | str:
        if isinstance(value, SecretRef):
            return value
        if not isinstance(value, str):
            raise ValueError("must be a string (a secret reference op://..., env:NAME, config:KEY, or plain text)")
        if value.startswith(REFERENCE_PREFIXES) or SECURE_VALUES_ALLOWED.get():
            return SecretRef.parse(value)
        problem = check(value)
        if problem:
            raise ValueError(problem)
        return value

    return validate


def _topic_problem(value: str) -> str | None:
    return None if _NTFY_TOPIC.fullmatch(value) else "is not an ntfy topic (1-64 letters, digits, '_' and '-')"


_AS_TEXT = PlainSerializer(str)
UrlOrSecret = Annotated[SecretRef | str, PlainValidator(_plain_or_ref(url_problem)), _AS_TEXT]
PushUrlOrSecret = Annotated[
    SecretRef | str, PlainValidator(_plain_or_ref(lambda v: url_problem(v, query=False))), _AS_TEXT
]
TopicOrSecret = Annotated[SecretRef | str, PlainValidator(_plain_or_ref(_topic_problem)), _AS_TEXT]


class HealthchecksConfig(Model):
    ping_url: UrlOrSecret
    states: list[State] = Field(default_factory=lambda: ["start", "finish", "fail"], min_length=1)


class NtfyConfig(Model):
    topic: TopicOrSecret
    server: UrlOrSecret = "https://ntfy.sh"
    username: Text | None = None
    password: SecretRef | None = None
    access_token: SecretRef | None = None
    states: list[State] = Field(default_factory=lambda: ["fail"], min_length=1)

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> NtfyConfig:
        problems: list[tuple[str, str]] = []
        if self.access_token is not None and (self.username is not None or self.password is not None):
            problems.append(("accessToken", "use either accessToken or username/password, not both"))
        if (self.username is None) != (self.password is None):
            problems.append(("password" if self.password is None else "username", "required with the other"))
        if problems:
            raise _NestedProblems(problems)
        return self


class UptimeKumaConfig(Model):
    push_url: PushUrlOrSecret
    states: list[State] = Field(default_factory=lambda: ["start", "finish", "fail"], min_length=1)


class MonitoringConfig(Model):
    """Where a run reports (any of them, or none)."""

    healthchecks: HealthchecksConfig | None = None
    ntfy: NtfyConfig | None = None
    uptime_kuma: UptimeKumaConfig | None = None

    @property
    def configured(self) -> bool:
        return any(x is not None for x in (self.healthchecks, self.ntfy, self.uptime_kuma))

    def values(self) -> Iterator[tuple[str, SecretRef | str]]:
        """``(key path below monitoring, value)`` of every URL, topic and credential set."""
        if self.healthchecks is not None:
            yield "healthchecks.pingUrl", self.healthchecks.ping_url
        if self.ntfy is not None:
            yield "ntfy.topic", self.ntfy.topic
            yield "ntfy.server", self.ntfy.server
            if self.ntfy.username is not None:
                yield "ntfy.username", self.ntfy.username
            if self.ntfy.password is not None:
                yield "ntfy.password", self.ntfy.password
            if self.ntfy.access_token is not None:
                yield "ntfy.accessToken", self.ntfy.access_token
        if self.uptime_kuma is not None:
            yield "uptimeKuma.pushUrl", self.uptime_kuma.push_url

    def secret_refs(self) -> list[SecretRef]:
        return list(dict.fromkeys(v for _, v in self.values() if isinstance(v, SecretRef)))

    def plain_urls(self) -> list[str]:
        """Key paths of the ping/push URLs given as plain text (anyone reading them can report success)."""
        return [
            key
            for key, v in self.values()
            if key in ("healthchecks.pingUrl", "uptimeKuma.pushUrl") and not isinstance(v, SecretRef)
        ]

    def reports_to(self) -> list[str]:
        """For a review: each service and where, without any secret part."""

        def where(value: SecretRef | str, what: str) -> str:
            return f"{what} from {value}" if isinstance(value, SecretRef) else shown_url(value)

        lines = []
        if self.healthchecks is not None:
            lines.append(f"healthchecks at {where(self.healthchecks.ping_url, 'the ping URL')}")
        if self.ntfy is not None:
            topic = "a secret topic" if isinstance(self.ntfy.topic, SecretRef) else f"topic {self.ntfy.topic}"
            lines.append(f"ntfy {topic} at {where(self.ntfy.server, 'the server URL')}")
        if self.uptime_kuma is not None:
            lines.append(f"uptime kuma at {where(self.uptime_kuma.push_url, 'the push URL')}")
        return lines


def resolved_problems(prefix: str, mon: MonitoringConfig, values: Mapping[SecretRef, str]) -> list[tuple[str, str]]:
    """Problems of the resolved secret URLs/topics (checked once they are known); names no secret."""
    checks = {
        "healthchecks.pingUrl": url_problem,
        "ntfy.server": url_problem,
        "ntfy.topic": _topic_problem,
        "uptimeKuma.pushUrl": lambda v: url_problem(v, query=False),
    }
    problems = []
    for key, value in mon.values():
        # an offline render without --resolve-secrets has the placeholder: nothing to check
        if isinstance(value, SecretRef) and key in checks and values.get(value, value.placeholder) != value.placeholder:
            problem = checks[key](values[value])
            if problem:
                problems.append((f"{prefix}.{key}", f"the secret {value} {problem}"))
    return problems
