"""ScheduledDrill under the SDK's mocks, and the drill schedule's config: defaults follow the backup, the
wrapper holding a secret ping URL is a secret delivery, the backup's hooks take the run lock."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from offline.engine import Secret, reveal
from tests.support.render import render_config, render_stack
from tests.support.stacks import raw_sections, stack

COMMAND = "command:remote:Command"
ENV = {"PGDR_BORGMATIC_PASSWORD": "pw", "DRILL_HC": "https://hc.example.org/ping/drill-uuid"}


def _config(schedule: dict[str, Any] | None = None, backup_schedule: dict[str, Any] | None = None, **drill: Any):
    config = stack(secrets={"provider": "env"})
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:backup"]["schedule"] = backup_schedule or {"kind": "launchd", "hour": 2, "minute": 10}
    config["pg-dr:drill"] = {
        "enabled": True,
        "database": "miniflux",
        "sourceHostname": "localhost",
        "target": {"username": "pgdr_drill"},
        "expectedCounts": {"entries": 1},
        "schedule": schedule or {},
        **drill,
    }
    return config


def _children(render, component: str) -> dict[str, Any]:
    parent = render.one(component)
    return {r.name: r for r in render.of_type(COMMAND) if r.parent == parent.urn}


def test_the_default_drill_schedule_is_weekly_two_hours_after_the_backup() -> None:
    cfg = parse_stack_config(raw_sections(_config()))
    sched = cfg.drill.scheduled(cfg.backup)
    assert sched is not None
    assert (sched.kind, sched.hour, sched.minute, sched.weekday) == ("launchd", 4, 10, 0)
    late = parse_stack_config(raw_sections(_config(backup_schedule={"kind": "systemd", "hour": 23})))
    assert late.drill.scheduled(late.backup).hour == 1  # type: ignore[union-attr]
    daily = parse_stack_config(raw_sections(_config({"daily": True, "hour": 6})))
    assert daily.drill.scheduled(daily.backup).weekday is None  # type: ignore[union-attr]
    off = parse_stack_config(raw_sections(_config({"kind": "none"})))
    assert off.drill.scheduled(off.backup) is None


def test_the_drill_label_must_differ_from_the_backups() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(raw_sections(_config({"label": "io.pg-dr.borgmatic"})))
    assert [p for p, _ in raised.value.problems] == ["pg-dr:drill.schedule.label"]


@pytest.mark.parametrize("field", [{"weekday": 8}, {"hour": 24}, {"kind": "existing"}, {"rtoSeconds": 0}])
def test_bad_drill_schedule_values_name_their_key(field: dict[str, Any]) -> None:
    schedule = {k: v for k, v in field.items() if k != "rtoSeconds"}
    extra = {"rtoSeconds": field["rtoSeconds"]} if "rtoSeconds" in field else {}
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(raw_sections(_config(schedule, **extra)))
    (problem,) = raised.value.problems
    assert problem[0].startswith("pg-dr:drill.")


def test_scheduled_drill_delivers_wrapper_and_launch_agent_after_the_drill() -> None:
    render = render_config(_config(), resolve_secrets=True, environ=ENV)
    commands = _children(render, "pg-dr:index:ScheduledDrill")
    assert list(commands) == ["drill-schedule-wrapper", "drill-schedule-schedule"]
    wrapper = commands["drill-schedule-wrapper"]
    assert "target=/Users/erichblume/.local/bin/pg-dr-drill-scheduled" in wrapper.inputs["create"]
    assert "mode=700" in wrapper.inputs["create"]
    drill_commands = _children(render, "pg-dr:index:RestoreDrill").values()
    assert drill_commands and all(c.urn in wrapper.dependencies for c in drill_commands)  # after the drill
    plist = reveal(commands["drill-schedule-schedule"].inputs["stdin"])
    assert "<key>Weekday</key>" in plist and "pg-dr-drill-scheduled" in plist
    # the backup's borgmatic config takes pg-dr's run lock around its actions
    backup = _children(render, "pg-dr:index:BorgmaticHost")
    assert "borgmatic-report" in backup
    config = yaml.safe_load(reveal(backup["borgmatic-config"].inputs["stdin"]).split("\n", 1)[1])
    runs = [hook["run"][0] for hook in config["commands"]]
    assert runs[0] == '/Users/erichblume/.local/bin/pg-dr-report lock "$PPID"'
    assert "pg_dumpall --roles-only" in runs[1]  # the nightly roles, inside the lock (before create)
    assert runs[2:] == ['/Users/erichblume/.local/bin/pg-dr-report unlock "$PPID"']
    assert render.stack_outputs["drillSchedule"]["when"] == "Sun 04:10"


def test_a_secret_drill_ping_url_makes_the_wrapper_a_secret_delivery() -> None:
    config = _config(monitoring={"healthchecks": {"pingUrl": "env:DRILL_HC"}})
    render = render_config(config, resolve_secrets=True, environ=ENV)
    wrapper = _children(render, "pg-dr:index:ScheduledDrill")["drill-schedule-wrapper"]
    assert isinstance(wrapper.inputs["stdin"], Secret) and wrapper.inputs["logging"] == "none"
    assert ENV["DRILL_HC"] in reveal(wrapper.inputs["stdin"])
    assert ENV["DRILL_HC"] not in wrapper.inputs["create"]
    assert all(ENV["DRILL_HC"] not in text for text in render.render_files().values())
    assert render.stack_outputs["drillSchedule"]["reportsTo"] == ["healthchecks at the ping URL from env:DRILL_HC"]


def test_systemd_drill_units_and_no_schedule_without_a_backup_schedule() -> None:
    render = render_config(_config(backup_schedule={"kind": "systemd", "hour": 3}))
    commands = _children(render, "pg-dr:index:ScheduledDrill")
    assert list(commands) == [
        "drill-schedule-wrapper",
        "drill-schedule-schedule-service",
        "drill-schedule-schedule-timer",
    ]
    timer = reveal(commands["drill-schedule-schedule-timer"].inputs["stdin"])
    assert "OnCalendar=Sun *-*-* 05:00:00" in timer
    none = render_config(_config(backup_schedule={"kind": "none"}))
    assert not none.of_type("pg-dr:index:ScheduledDrill")
    assert "drillSchedule" not in none.stack_outputs


def test_the_dev_stack_schedules_its_drill_with_systemd() -> None:
    render = render_stack("dev")
    files = render.render_files()
    assert "hosts/localhost/io.pg-dr.drill.timer" in files
    assert "OnCalendar=Sun *-*-* 05:30:00" in files["hosts/localhost/io.pg-dr.drill.timer"]
