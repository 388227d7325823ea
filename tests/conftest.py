"""Shared pytest fixtures, and the test tiers: a test's tier is the directory it lives in.

``tests/unit`` (the program under the SDK's mocks, pure functions), ``tests/artifact`` (real tools check
rendered artifacts: borgmatic, systemd-analyze, /bin/sh, the CNPG CRD schemas), ``tests/fault`` (the remote
scripts under faults and hostile hosts: cut stdin, signals, planted temp files, alias paths, concurrent
writers, failed reloads, a kill-point sweep; bounded to well under 90 s) and ``tests/e2e`` (real PostgreSQL,
borg, borgmatic and sshd end to end). ``-m "not artifact and not fault and not e2e"`` selects the unit tier.

A tool a test needs and the machine lacks skips it, naming the Debian package (``tests/support/tools.py``,
called by the fixtures that start servers); under CI (``CI=true``) it fails the run instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pg_fixtures import postgres_factory, postgres_server  # noqa: F401
from tests.support.sshd_fixtures import root_sshd, sshd_server  # noqa: F401
from tests.support.tools import require_postgres

TESTS = Path(__file__).resolve().parent
TIERS = {"artifact": pytest.mark.artifact, "fault": pytest.mark.fault, "e2e": pytest.mark.e2e}


def _tier(item: pytest.Item) -> str:
    return Path(item.fspath).resolve().relative_to(TESTS).parts[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = _tier(item)
        if tier in TIERS:
            item.add_marker(TIERS[tier])


@pytest.fixture(autouse=True)
def _tier_needs(request: pytest.FixtureRequest) -> None:
    """Every end-to-end test runs real PostgreSQL servers (some start them directly, not by fixture)."""
    if _tier(request.node) == "e2e":
        require_postgres()
