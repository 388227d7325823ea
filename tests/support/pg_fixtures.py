"""pytest fixtures for real PostgreSQL servers (see tests/support/postgres.py); imported by tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.postgres import PostgresServer
from tests.support.tools import require_postgres


@pytest.fixture
def postgres_factory() -> Iterator[Callable[..., PostgresServer]]:
    """Start any number of servers (``postgres_factory(name="brew")``); all are stopped and removed after."""
    require_postgres()
    servers: list[PostgresServer] = []

    def start(**kwargs) -> PostgresServer:
        server = PostgresServer.start(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def postgres_server(postgres_factory: Callable[..., PostgresServer]) -> PostgresServer:
    """One real server: superuser over the socket, scram-sha-256 on 127.0.0.1:<free port>."""
    return postgres_factory(name="pg")
