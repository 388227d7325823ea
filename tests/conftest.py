"""Shared pytest fixtures, and the test tiers: a test's tier is the directory it lives in.

``tests/unit`` (the program under the SDK's mocks, pure functions), ``tests/artifact`` (real tools check
rendered artifacts: borgmatic, systemd-analyze, /bin/sh, the CNPG CRD schemas) and ``tests/e2e`` (real
PostgreSQL, borg, borgmatic and sshd end to end). ``-m "not artifact and not e2e"`` selects the unit tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pg_fixtures import postgres_factory, postgres_server  # noqa: F401
from tests.support.sshd_fixtures import root_sshd, sshd_server  # noqa: F401

TESTS = Path(__file__).resolve().parent
TIERS = {"artifact": pytest.mark.artifact, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(item.fspath).resolve().relative_to(TESTS).parts[0]
        if tier in TIERS:
            item.add_marker(TIERS[tier])
