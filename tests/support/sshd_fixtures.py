"""pytest fixtures for a real sshd on loopback (see tests/support/sshd.py); imported by tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sshd import SshServer
from tests.support.tools import require_borg, require_sshd


@pytest.fixture
def sshd_server() -> Iterator[SshServer]:
    """A real sshd on 127.0.0.1:<free port>, a throwaway user with a temp home, pinned host key, key auth."""
    require_sshd()
    server = SshServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def root_sshd() -> Iterator[SshServer]:
    """The same, logging in as a uid-0 alias with its own temp home: for tests that run the venv's borgmatic
    (its interpreter lives under /root, unreadable to an unprivileged user on the test machine)."""
    require_sshd()
    require_borg()  # these tests run the real borgmatic and borg
    server = SshServer.start(as_root=True)
    try:
        yield server
    finally:
        server.stop()
