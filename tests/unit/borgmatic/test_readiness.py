"""The login wait fails fast naming the real cause when nothing listens, and waits for CNPG otherwise."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.borgmatic import readiness
from components.config.stack import parse_stack_config
from tests.support.stacks import BASE, raw_sections
from tests.support.tools import require_tool

PSQL = "/usr/lib/postgresql/15/bin/psql"


def _script(port: int, limit: int, monkeypatch: pytest.MonkeyPatch, grace: int = 1) -> str:
    raw = raw_sections(BASE)
    raw["backup"]["pgBinDir"] = str(Path(require_tool(PSQL, "postgresql-client-15")).parent)
    raw["backup"]["loginWaitSeconds"] = limit
    raw["backup"]["databases"][1].update(hostname="127.0.0.1", port=port)
    monkeypatch.setattr(readiness, "UNREACHABLE_GRACE_SECONDS", grace)
    script = readiness.wait_login(parse_stack_config(raw).backup, {})
    assert script is not None
    return script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def closing_server() -> Iterator[int]:
    """A port where something accepts and hangs up at once: reachable, but no PostgreSQL login (yet)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join()
    server.close()


@pytest.mark.parametrize(("shell", "grace"), [("/bin/sh", 1), ("dash", 0), ("posh", 0)])
def test_nothing_listening_fails_after_the_grace_naming_the_port_forward(
    shell: str, grace: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    started = time.monotonic()
    proc = subprocess.run(
        [require_tool(shell, shell.strip("/").split("/")[-1]), "-c", _script(port, 300, monkeypatch, grace)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert time.monotonic() - started < 20, "failed fast, not after loginWaitSeconds (300)"
    assert proc.stderr == (
        f"pg-dr login wait: pg-dr:backup.databases[1]: nothing listens on 127.0.0.1:{port} (connection refused "
        f"for {grace}s): is the port-forward (or tunnel) to the database running, and the server up?\n"
    )
    assert "CNPG" not in proc.stderr


def test_a_reachable_server_that_refuses_the_login_is_waited_for_and_blames_cnpg(
    closing_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = subprocess.run(
        ["/bin/sh", "-c", _script(closing_server, 2, monkeypatch)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        f"pg-dr login wait: pg-dr:backup.databases[1]: borgmatic@127.0.0.1:{closing_server}/miniflux still cannot "
        "log in after 2s (CNPG applies roles"
    )


def test_the_grace_never_exceeds_the_wait() -> None:
    raw = raw_sections(BASE)
    raw["backup"]["loginWaitSeconds"] = 5
    script = readiness.wait_login(parse_stack_config(raw).backup, {})
    assert script is not None and "\ngrace=5\n" in script and "\nlimit=5\n" in script
