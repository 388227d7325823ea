"""Shared pytest fixtures."""

from tests.support.pg_fixtures import postgres_factory, postgres_server  # noqa: F401
from tests.support.sshd_fixtures import root_sshd, sshd_server  # noqa: F401
