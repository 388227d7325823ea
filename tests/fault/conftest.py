"""Every script test of the fault tier runs under each shell of ``harness.SHELLS`` (dash, posh, bash --posix).

The tests that reach the scripts through sshd (test_activation, test_alias_paths) run them with the login's
``/bin/sh -c`` as the provider does, once.
"""

from __future__ import annotations

import pytest

from tests.fault import harness

THROUGH_SSHD = {"test_activation", "test_alias_paths"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__.rsplit(".", 1)[-1] not in THROUGH_SSHD:
        metafunc.fixturenames.append("fault_shell")
        metafunc.parametrize("fault_shell", sorted(harness.SHELLS), indirect=True)


@pytest.fixture
def fault_shell(request: pytest.FixtureRequest) -> str:
    harness.use_shell(request.param)
    return request.param
