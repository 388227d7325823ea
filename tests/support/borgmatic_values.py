"""The tests' generators of ``pg-dr:backup``'s retention, checks and archive-name keys: finite lists of values
(ordinary, edge and hostile ones from issue 16), drawn by the Hypothesis tests (tests/unit/borgmatic/
test_night_values.py) and run, every accepted one, by real borgmatic and borg
(tests/artifact/test_archive_isolation.py). What ``check`` accepts from here must make a night that succeeds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_NONE = {"keepDaily": None, "keepMonthly": None, "keepYearly": None}
RETENTIONS: list[dict[str, Any]] = [
    {},  # the defaults: 7 daily, 12 monthly, 1000 yearly
    {**_NONE, "keepDaily": 1},
    {**_NONE, "keepWeekly": 1},
    {**_NONE, "keepMonthly": 2},
    {**_NONE, "keepYearly": 1},
    {"keepDaily": 0, "keepWeekly": 2, "keepMonthly": 0, "keepYearly": 0},
    {"keepDaily": 3, "keepWeekly": 1, "keepMonthly": 1, "keepYearly": 1},
    # refused: borg prune runs with no keep above 0 only to fail
    {"keepDaily": 0, "keepWeekly": 0, "keepMonthly": 0, "keepYearly": 0},
    {**_NONE},
    {**_NONE, "keepWeekly": 0},
    {"keepDaily": -1},
]

CHECK_NAMES = ["repository", "archives", "data", "extract", "spot"]
FREQUENCIES = [
    "always",
    "Always",
    "2 weeks",
    "1 week",
    "1 month",
    "3 months",
    "1 year",
    "12 hours",
    "90 minutes",
    "3 day",
    " 2 weeks ",
    "0 days",
    "",
    # refused: borgmatic's check fails on them every night
    "fortnightly",
    "2 weeks\u200b",
    "2  weeks",
    "two weeks",
    "2 fortnights",
    "2weeks",
    "1000000 years",
    "1 month\t",
]

ARCHIVE_NAMES: list[tuple[str, str | None]] = [
    ("pg-dr-{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}", None),  # the default
    ("pg-dr-{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}", "sh:pg-dr-*"),
    ("pg-dr-{hostname}-{now}", None),
    ("pg-dr-db-{fqdn}-{utcnow:%Y%m%dT%H%M%S}", "sh:pg-dr-db-*"),
    ("pg-dr-db-{fqdn}-{utcnow:%Y%m%dT%H%M%S}", "sh:pg-dr-*"),
    ("pg-dr-{user}.{uuid4}", None),
    ("pg-dr-x_{now:%j.%H%M%S%f}", "sh:pg-dr-x_*"),
    # refused: matches another writer's archives, misses pg-dr's own, or cannot be proved
    ("pg-dr-{hostname}-{now}", "sh:?*"),
    ("pg-dr-{hostname}-{now}", "sh:*?"),
    ("pg-dr-{hostname}-{now}", "re:.+"),
    ("pg-dr-{hostname}-{now}", "re:."),
    ("pg-dr-{hostname}-{now}", "re:^"),
    ("pg-dr-{hostname}-{now}", "re:^pg-dr-"),
    ("pg-dr-{hostname}-{now}", "?*"),
    ("pg-dr-{hostname}-{now}", "SH:*"),
    ("pg-dr-{hostname}-{now}", "sh:*-*"),
    ("pg-dr-{hostname}-{now}", "sh:*"),
    ("pg-dr-{hostname}-{now}", "*"),
    ("pg-dr-{hostname}-{now}", "sh:pg-*"),
    ("pg-dr-{hostname}-{now}", "sh:pg-dr-[a]*"),
    ("pg-dr-{hostname}-{now}", "sh:pg-dr-{hostname}-*"),
    ("pg-dr-{hostname}-{now}", "pp:pg-dr-"),
    ("pg-dr-{hostname}-{now}", "id:pg-dr-"),
    ("pg-dr-{hostname}-{now}", "sh:pg-dr-other-*"),
    ("{hostname}-{now}", "sh:{hostname}-*"),  # borgmatic's default format: the other config's archives
    ("{hostname}-{now}", None),
    ("pgdr-{hostname}-{now}", "sh:pgdr-*"),
    ("pg-dr-{hostname}-{now:%Y-%m-%d}", None),  # one name a day: the night after the verification fails
    ("pg-dr-{hostname}-{now:%D}", None),  # 12/03/26: a '/' in the name
    ("pg-dr-{hostname}-{now:%c}", None),
    ("pg-dr-{hostname}/{now}", None),
    ("pg-dr-{hostname}::{now}", None),
    ("pg-dr-{hostname} {now}", None),
    ("pg-dr-{unknown}-{now}", None),
    ("pg-dr-{{hostname}}-{now}", None),
    ("pg-dr-*-{now}", None),
]


def retention() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(RETENTIONS)


def checks() -> st.SearchStrategy[list[dict[str, str]]]:
    check = st.fixed_dictionaries({"name": st.sampled_from(CHECK_NAMES), "frequency": st.sampled_from(FREQUENCIES)})
    return st.lists(check, max_size=3)


def archive_names() -> st.SearchStrategy[tuple[str, str | None]]:
    return st.sampled_from(ARCHIVE_NAMES)


def backup_keys(retention: dict[str, Any], checks: list[dict[str, str]] | None, names: tuple[str, str | None]) -> dict:
    """The ``pg-dr:backup`` keys these values set."""
    fmt, match = names
    keys: dict[str, Any] = {"archiveNameFormat": fmt}
    if match is not None:
        keys["matchArchives"] = match
    if retention:
        keys["retention"] = retention
    if checks is not None:
        keys["checks"] = checks
    return keys
