"""The real-PostgreSQL fixture itself: non-root server, scram on TCP, trusted socket, cleanup."""

from __future__ import annotations

import os
import pwd

import pytest

from tests.support.postgres import PostgresError, PostgresServer


def test_server_runs_unprivileged_with_scram_on_loopback(postgres_server: PostgresServer) -> None:
    pg = postgres_server
    owner = pwd.getpwuid(os.stat(pg.data_dir).st_uid).pw_name
    assert owner != "root"
    assert pg.scalar("SHOW listen_addresses") == "127.0.0.1"
    assert pg.scalar("SELECT current_user") == "postgres"
    pg.create_role("app", password="pa:ss\\word", login=True)
    proc = pg.sql_as("app", "pa:ss\\word", "SELECT current_user, inet_server_port()")
    assert proc.stdout.strip() == f"app|{pg.port}"
    assert pg.scalar("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'app'") == "t"
    wrong = pg.sql_as("app", "wrong", "SELECT 1", check=False)
    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr


def test_stop_removes_everything() -> None:
    pg = PostgresServer.start(name="cleanup")
    root = pg.root
    pg.create_database("x")
    assert "x" in pg.databases()
    pg.stop()
    assert not root.exists()
    with pytest.raises(PostgresError):
        pg.sql("SELECT 1")
    pg.stop()  # idempotent
