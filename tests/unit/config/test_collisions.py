"""Two things the stack would create under one name or at one path are a config error naming both."""

from __future__ import annotations

import copy

import pytest

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from tests.support.render import render_config
from tests.support.stacks import BASE, raw_sections, stack


def _problems(raw: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return str(caught.value)


def test_roles_whose_secrets_share_a_name_are_refused_before_registering() -> None:
    config = stack()
    config["pg-dr:cluster"]["roles"].append({"name": "Borgmatic", "login": True, "password": "env:OTHER"})
    with pytest.raises(ConfigError) as caught:
        render_config(config)
    assert (
        "pg-dr:cluster.roles[1].name: 'Borgmatic' and 'borgmatic' (roles[0]) both get the Kubernetes name "
        "blumeops-pg-borgmatic"
    ) in str(caught.value)


def test_underscore_and_case_variants_collide_in_database_role_mode_too() -> None:
    raw = raw_sections(BASE)
    raw["cluster"]["mode"] = "databaseRole"
    raw["cluster"]["roles"] += [{"name": "app_ro", "disablePassword": True}, {"name": "APP_RO"}]
    assert "roles[2].name: 'APP_RO' and 'app_ro' (roles[1]) both get the Kubernetes name blumeops-pg-app-ro" in (
        _problems(raw)
    )


def _backup(**changes: object) -> dict:
    raw = copy.deepcopy(raw_sections(BASE))
    raw["backup"].update(changes)
    return raw


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"configPath": "/Users/erichblume/.pgpass"},
            "pg-dr:backup.pgpassPath: /Users/erichblume/.pgpass is also the file of configPath",
        ),
        (
            {"pgpassPath": "/Users/erichblume/.config/borgmatic.d/pg-dr.yaml"},
            "pg-dr:backup.pgpassPath: /Users/erichblume/.config/borgmatic.d/pg-dr.yaml is also the file of configPath",
        ),
        (
            {"configPath": "/Users/erichblume/Library/LaunchAgents/io.pg-dr.borgmatic.plist"},
            "pg-dr:backup.schedule.label: /Users/erichblume/Library/LaunchAgents/io.pg-dr.borgmatic.plist is also "
            "the file of configPath",
        ),
        (  # macOS: case-insensitive
            {"pgpassPath": "/Users/erichblume/library/launchagents/IO.PG-DR.BORGMATIC.plist"},
            "pg-dr:backup.schedule.label: /Users/erichblume/Library/LaunchAgents/io.pg-dr.borgmatic.plist is also "
            "the file of pgpassPath",
        ),
        (
            {"configPath": "/opt/homebrew/bin/borgmatic"},
            "pg-dr:backup.configPath: /opt/homebrew/bin/borgmatic is also the program of borgmaticPath",
        ),
        (
            {
                "schedule": {"kind": "systemd"},
                "pgpassPath": "/Users/erichblume/.config/systemd/user/io.pg-dr.borgmatic.timer",
            },
            "pg-dr:backup.schedule.label: /Users/erichblume/.config/systemd/user/io.pg-dr.borgmatic.timer is also "
            "the file of pgpassPath",
        ),
    ],
)
def test_colliding_host_paths_are_refused(changes: dict, expected: str) -> None:
    assert expected in _problems(_backup(**changes))


def test_distinct_paths_and_case_on_linux_are_fine() -> None:
    raw = _backup(schedule={"kind": "systemd"}, configPath="/home/pgdr/B.yaml", pgpassPath="/home/pgdr/b.yaml")
    assert parse_stack_config(raw).backup is not None
