"""``pg-dr:backup.databases[].every``: the frequent config and its schedule, next to the nightly one."""

from __future__ import annotations

import plistlib
from typing import Any

import pytest
import yaml

from components.borgmatic.config import FREQUENT_ARCHIVE_NAME_FORMAT, FREQUENT_MATCH_ARCHIVES
from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from tests.support.render import render_config
from tests.support.stacks import raw_sections, stack

HOST = "hosts/indri.tail8d86e.ts.net"


def _config(every: Any = "1h", second: Any = None, **backup: Any) -> dict[str, Any]:
    config = stack()
    databases = config["pg-dr:backup"]["databases"]
    databases[1]["every"] = every
    if second is not None:
        databases[0]["every"] = second
    config["pg-dr:backup"].update(backup)
    return config


def _problems(config: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        parse_stack_config(raw_sections(config))
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        (_config("90m"), "pg-dr:backup.databases[1].every", "must be one of"),
        (_config("5h"), "pg-dr:backup.databases[1].every", "must be one of"),
        (_config("1h", "2h"), "pg-dr:backup.databases[1].every", "one frequent schedule per stack"),
        (_config(schedule={"kind": "none"}), "pg-dr:backup.databases[1].every", "needs pg-dr's own schedule"),
    ],
)
def test_bad_every_is_one_line_naming_the_key(config: dict[str, Any], key: str, message: str) -> None:
    problems = _problems(config)
    assert len(problems) == 1 and problems[0][0] == key and message in problems[0][1], problems


def test_the_frequent_config_holds_only_its_databases_and_never_matches_the_nightly() -> None:
    config = _config(
        "2h",
        monitoring={
            "healthchecks": {"pingUrl": "env:HC"},
            "ntfy": {"topic": "pgdr", "states": ["start", "finish", "fail"]},
        },
        metrics={"textfilePath": "/Users/erichblume/metrics/pg-dr.prom"},
    )
    files = render_config(config).render_files()
    frequent = yaml.safe_load(files[f"{HOST}/borgmatic-frequent.yaml"])
    nightly = yaml.safe_load(files[f"{HOST}/borgmatic.yaml"])
    assert [db["hostname"] for db in frequent["postgresql_databases"]] == ["k8s-pg.tail8d86e.ts.net"]
    assert len(nightly["postgresql_databases"]) == 2  # the night dumps every database, the frequent ones too
    assert (
        frequent["archive_name_format"].startswith("pgdr-frequent-")
        and frequent["match_archives"] == "sh:pgdr-frequent-*"
    )
    assert nightly["match_archives"] == "sh:pg-dr-*"
    assert frequent["keep_hourly"] == 48 and "keep_daily" not in frequent and "checks" not in frequent
    assert frequent["user_runtime_directory"] != nightly["user_runtime_directory"]
    # a success ping every two hours would hide a missed night: only ntfy's failure notice
    assert "healthchecks" not in frequent and frequent["ntfy"]["states"] == ["fail"]
    assert "healthchecks" in nightly
    # both take the run lock; each reports its own databases' success
    for doc in (frequent, nightly):
        runs = [hook["run"][0] for hook in doc["commands"]]
        assert runs[0].endswith('pg-dr-report lock "$PPID"') and runs[-1].endswith('pg-dr-report unlock "$PPID"')
    assert "k8s-pg" in frequent["commands"][1]["run"][0] and "localhost" not in frequent["commands"][1]["run"][0]
    plist = plistlib.loads(files[f"{HOST}/io.pg-dr.borgmatic.frequent.plist"].encode())
    assert plist["StartCalendarInterval"] == [{"Hour": h, "Minute": 30} for h in range(0, 24, 2)]
    assert plist["ProgramArguments"][-3:] == ["create", "prune", "compact"]


def test_every_hour_on_launchd_and_systemd() -> None:
    files = render_config(_config("1h")).render_files()
    plist = plistlib.loads(files[f"{HOST}/io.pg-dr.borgmatic.frequent.plist"].encode())
    assert plist["StartCalendarInterval"] == {"Minute": 30}
    files = render_config(_config("3h", schedule={"kind": "systemd", "hour": 4, "minute": 45})).render_files()
    assert "OnCalendar=*-*-* 01/3:15:00" in files[f"{HOST}/io.pg-dr.borgmatic.frequent.timer"]


def test_no_every_changes_nothing() -> None:
    config = stack()
    files = render_config(config).render_files()
    assert not any("frequent" in path for path in files)
    assert "pg-dr-report" not in files[f"{HOST}/borgmatic.yaml"]  # only the roles hook


def test_the_verification_validates_the_frequent_config_too() -> None:
    render = render_config(_config("2h"))
    script = render.one("command:remote:Command", "borgmatic-verify").inputs["create"]
    assert "config=/Users/erichblume/.config/pg-dr/borgmatic-frequent.yaml\nif ! bm config validate" in script


def test_no_nightly_match_can_reach_the_frequent_archives() -> None:
    """Every nightly format starts with the literal pg-dr- (a config error otherwise), so does its match."""
    assert not FREQUENT_ARCHIVE_NAME_FORMAT.startswith("pg-dr-")
    assert not FREQUENT_MATCH_ARCHIVES.removeprefix("sh:").startswith("pg-dr-")
    problems = _problems(_config(archiveNameFormat="pgdr-{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}"))
    assert [p for p, _ in problems] == ["pg-dr:backup.archiveNameFormat"]
