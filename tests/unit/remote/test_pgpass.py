"""One pgpass file holds one password per host, port and user: the rule the backup and the drill share."""

from __future__ import annotations

import copy

import pytest

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from components.remote.pgpass import PgpassLine, password_conflicts
from tests.support.stacks import BASE, raw_sections

LINE = PgpassLine("localhost", 5432, "borgmatic")


def test_password_conflicts_name_the_entry_and_the_first() -> None:
    other = PgpassLine("localhost", 5433, "borgmatic")
    entries = [("a", LINE, "env:A"), ("b", other, "env:B"), ("c", LINE, "env:A"), ("d", LINE, "env:D")]
    assert list(password_conflicts(entries)) == [("d", "a", LINE)]


def _problems(raw: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return str(caught.value)


def test_two_databases_on_one_pgpass_line_need_one_password() -> None:
    raw = copy.deepcopy(raw_sections(BASE))
    second = {**raw["backup"]["databases"][0], "name": "other", "password": "op://blumeops/other/db-password"}
    raw["backup"]["databases"].append(second)
    assert "pg-dr:backup.databases[2].password: differs from another entry for borgmatic@localhost:5432" in (
        _problems(raw)
    )


def test_the_drill_target_shares_the_backups_pgpass_line_only_with_its_password() -> None:
    raw = copy.deepcopy(raw_sections(BASE))
    raw["drill"] = {
        "enabled": True,
        "database": "miniflux",
        "sourceHostname": "localhost",
        "target": {"hostname": "localhost", "port": 5432, "username": "borgmatic", "password": "env:OTHER"},
        "expectedCounts": {"users": 2},
    }
    assert "pg-dr:drill.target.password: differs from backup.databases[0] for borgmatic@localhost:5432" in _problems(
        raw
    )
    raw["drill"]["target"]["password"] = raw["backup"]["databases"][0]["password"]
    assert parse_stack_config(raw).drill.target is not None
