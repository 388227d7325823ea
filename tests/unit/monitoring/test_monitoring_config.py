"""``pg-dr:backup.monitoring`` / ``pg-dr:drill.monitoring``: validation, what the review shows, and that a
secret ping URL is only ever handled as a secret (the borgmatic config holding it is delivered as one)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from components.monitoring.config import MonitoringConfig, shown_url, url_problem
from offline.engine import Secret, reveal
from tests.support.render import render_config
from tests.support.stacks import raw_sections, stack

COMMAND = "command:remote:Command"
PING = "https://hc.example.org/ping/9b1c7a4e-1111-2222-3333-444455556666"
ENV = {"HC_URL": PING, "NTFY_TOKEN": "tk_abcdef", "PGDR_BORGMATIC_PASSWORD": "pw"}


def _problems(monitoring: object, where: str = "backup") -> list[str]:
    config = stack(secrets={"provider": "env"})
    config[f"pg-dr:{where}"] = {**config.get(f"pg-dr:{where}", {}), "monitoring": monitoring}
    if where == "drill":
        config["pg-dr:drill"].update(
            enabled=True,
            database="miniflux",
            sourceHostname="localhost",
            target={"username": "pgdr_drill"},
            expectedCounts={"entries": 1},
        )
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    try:
        parse_stack_config(raw_sections(config))
    except ConfigError as exc:
        return [f"{p}: {m}" for p, m in exc.problems]
    return []


@pytest.mark.parametrize(
    ("monitoring", "problem"),
    [
        ({"healthchecks": {"pingUrl": "ftp://hc.example.org/ping/x"}}, "healthchecks.pingUrl: must be an http"),
        ({"healthchecks": {"pingUrl": "https:///ping/x"}}, "healthchecks.pingUrl: has no host"),
        ({"healthchecks": {"pingUrl": "https://bad_host!/x"}}, "healthchecks.pingUrl: has no valid host name"),
        ({"healthchecks": {"pingUrl": "https://u:p@hc.example.org/x"}}, "must not carry user:password@"),
        ({"healthchecks": {"pingUrl": 'https://hc.example.org/"x'}}, "a quote or a backslash"),
        ({"healthchecks": {"pingUrl": "9b1c7a4e-1111-2222-3333-444455556666"}}, "must be an http"),
        ({"healthchecks": {"pingUrl": "op:/vault/item"}}, "healthchecks.pingUrl: must be an http"),
        ({"healthchecks": {"pingUrl": "env:not a name"}}, "healthchecks.pingUrl: 'env:not a name': env: needs"),
        ({"healthchecks": {"pingUrl": 5}}, "healthchecks.pingUrl: must be a string"),
        ({"healthchecks": {}}, "healthchecks.pingUrl: required"),
        ({"healthchecks": {"pingUrl": PING, "states": ["begin"]}}, "healthchecks.states[0]: must be one of"),
        ({"uptimeKuma": {"pushUrl": "https://kuma.example.org/api/push/x?status=up"}}, "must not carry a query"),
        ({"ntfy": {"topic": "a/b"}}, "ntfy.topic: is not an ntfy topic"),
        ({"ntfy": {"topic": "t", "accessToken": "env:T", "username": "u", "password": "env:P"}}, "either accessToken"),
        ({"ntfy": {"topic": "t", "username": "u"}}, "ntfy.password: required with the other"),
        ({"ntfy": {"topic": "t", "password": "plain"}}, "ntfy.password: is not a secret reference"),
        ({"pagerduty": {}}, "monitoring.pagerduty: unknown key"),
    ],
)
@pytest.mark.parametrize("where", ["backup", "drill"])
def test_bad_monitoring_is_one_line_naming_the_key(monitoring: object, problem: str, where: str) -> None:
    problems = _problems(monitoring, where)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"pg-dr:{where}.monitoring.") and problem in problems[0], problems


def test_every_service_with_secret_references_is_accepted() -> None:
    monitoring = {
        "healthchecks": {"pingUrl": "config:hcPingUrl"},
        "ntfy": {"topic": "env:NTFY_TOPIC", "server": "https://ntfy.example.org", "accessToken": "config:ntfyToken"},
        "uptimeKuma": {"pushUrl": "env:KUMA_URL"},
    }
    assert _problems(monitoring) == []
    assert _problems(monitoring, "drill") == []


@given(st.text(max_size=60))
def test_url_problem_never_repeats_the_value(text: str) -> None:
    problem = url_problem("https://hc.example.org/" + text)
    assert problem is None or (text == "" or text not in problem)


def test_shown_url_keeps_scheme_and_host_only() -> None:
    assert shown_url(PING) == "https://hc.example.org"
    assert shown_url("http://127.0.0.1:8000/ping/x") == "http://127.0.0.1:8000"


def _render(monitoring: dict, **kwargs: object):
    config = stack(secrets={"provider": "env"})
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:backup"]["monitoring"] = monitoring
    return render_config(config, **kwargs)


def test_a_secret_ping_url_makes_the_config_a_secret_delivery() -> None:
    render = _render({"healthchecks": {"pingUrl": "env:HC_URL"}}, resolve_secrets=True, environ=ENV)
    command = render.one(COMMAND, "borgmatic-config")
    assert isinstance(command.inputs["stdin"], Secret)
    assert PING in reveal(command.inputs["stdin"])
    assert PING not in command.inputs["create"] and PING not in (command.inputs.get("delete") or "")
    assert command.inputs["logging"] == "none"
    published = render.render_files()
    config = next(text for path, text in published.items() if path.endswith("borgmatic.yaml"))
    assert "ping_url: '[redacted]'" in config and "send_logs: true" in config
    assert all(PING not in text for text in published.values())
    assert not render.warnings or all("plain text" not in w for w in render.warnings)
    assert render.stack_outputs["backup"]["reportsTo"] == ["healthchecks at the ping URL from env:HC_URL"]


def test_a_plain_ping_url_is_delivered_plainly_with_a_warning() -> None:
    render = _render({"healthchecks": {"pingUrl": PING}})
    command = render.one(COMMAND, "borgmatic-config")
    assert not isinstance(command.inputs["stdin"], Secret)
    assert any("pg-dr:backup.monitoring.healthchecks.pingUrl is plain text" in w for w in render.warnings)
    assert render.stack_outputs["backup"]["reportsTo"] == ["healthchecks at https://hc.example.org"]


def test_a_resolved_secret_that_is_not_a_url_fails_without_showing_it() -> None:
    with pytest.raises(Exception) as raised:
        _render({"healthchecks": {"pingUrl": "env:HC_URL"}}, resolve_secrets=True, environ={**ENV, "HC_URL": "s3cr3t"})
    assert "pg-dr:backup.monitoring.healthchecks.pingUrl: the secret env:HC_URL must be an http" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_the_summary_says_where_the_nights_report() -> None:
    from offline.review import summary

    render = _render(
        {"healthchecks": {"pingUrl": "env:HC_URL"}, "ntfy": {"topic": "pgdr", "server": "https://ntfy.example.org"}}
    )
    text = summary(render)
    assert (
        "- the backup reports to healthchecks at the ping URL from env:HC_URL; ntfy topic pgdr at "
        "https://ntfy.example.org"
    ) in text


def test_no_monitoring_renders_no_hook() -> None:
    monitoring = MonitoringConfig()
    assert not monitoring.configured and monitoring.reports_to() == []
    render = _render({})
    config = next(text for path, text in render.render_files().items() if path.endswith("borgmatic.yaml"))
    assert "healthchecks" not in config and "pg-dr-report" not in config
