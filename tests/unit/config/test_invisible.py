"""Bidi controls and invisible characters are refused in every text value (issue 16): a review of
summary.md or a script must show what runs (U+202E reorders the line shown; a zero-width space makes two
names look alike)."""

from __future__ import annotations

import pytest

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from components.keypath import key_path, leaves
from tests.support.stacks import BASE, raw_sections

INVISIBLE = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200f", "\u2060", "\ufeff", "\u061c"]
TEXT_LEAVES = [
    (section, parts)
    for section, body in raw_sections(BASE).items()
    for parts, value in leaves(body)
    if isinstance(value, str)
]


def _set(tree, parts, value):
    for part in parts[:-1]:
        tree = tree[part]
    tree[parts[-1]] = value


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_text_value_of_the_stack_refuses_invisible_characters(char: str) -> None:
    assert len(TEXT_LEAVES) >= 15
    for section, parts in TEXT_LEAVES:
        raw = raw_sections(BASE)
        original = raw[section]
        for part in parts:
            original = original[part]
        _set(raw[section], parts, "a" + char + original)
        with pytest.raises(ConfigError) as info:
            parse_stack_config(raw)
        where = f"pg-dr:{section}.{key_path(parts)}"
        assert where in [p for p, _ in info.value.problems], (where, info.value.problems)


# ------------------------------------------------------------------------------------------ cluster bounds
def _cluster_problems(**changes) -> list[tuple[str, str]]:
    raw = raw_sections(BASE)
    raw["cluster"].update(changes)
    try:
        parse_stack_config(raw)
    except ConfigError as e:
        return e.problems
    return []


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"instances": 10**12}, "pg-dr:cluster.instances"),
        ({"instances": 101}, "pg-dr:cluster.instances"),
        ({"storage": {"size": "0"}}, "pg-dr:cluster.storage.size"),
        ({"storage": {"size": "1023Ki"}}, "pg-dr:cluster.storage.size"),
        ({"storage": {"size": "1000000000000000000000000000000"}}, "pg-dr:cluster.storage.size"),
        ({"storage": {"size": "2Pi"}}, "pg-dr:cluster.storage.size"),
        ({"bootstrap": {"database": "app", "owner": "public"}}, "pg-dr:cluster.bootstrap.owner"),
    ],
)
def test_cluster_values_out_of_sane_bounds_are_refused(changes: dict, key: str) -> None:
    assert [p for p, _ in _cluster_problems(**changes)] == [key]


def test_cluster_values_within_bounds_pass() -> None:
    for changes in ({"instances": 3}, {"storage": {"size": "1Mi"}}, {"storage": {"size": "1.5Ti"}},
                    {"storage": {"size": "500G"}}):  # fmt: skip
        assert _cluster_problems(**changes) == [], changes


@pytest.mark.parametrize("name", ["public", "none", "NONE", "current_user", "session_user", "current_role"])
def test_reserved_role_names_are_refused_in_managed_roles(name: str) -> None:
    raw_roles = raw_sections(BASE)["cluster"]["roles"]
    role = dict(raw_roles[0], name=name)
    problems = _cluster_problems(roles=[role])
    assert "pg-dr:cluster.roles[0].name" in [p for p, _ in problems], problems
    member = dict(raw_roles[0], inRoles=[name])
    assert "pg-dr:cluster.roles[0].inRoles[0]" in [p for p, _ in _cluster_problems(roles=[member])]
