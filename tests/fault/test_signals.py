"""A delivery killed mid-way leaves no temporary holding the block; the next run removes what SIGKILL left."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from components.borgmatic.plan import PGPASS_BEGIN, PGPASS_END
from components.remote import delivery
from tests.fault import harness
from tests.fault.harness import block, deliver_block, files_holding, framed, leftovers
from tests.support.signals import default_signals

SECRET = b"s3cret-killed-pw"


def _wait_until(condition: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _start_partial(target: Path) -> subprocess.Popen[bytes]:
    """A pgpass delivery whose stdin stops mid-block and stays open (a stalled SSH connection)."""
    script = delivery.deliver_pgpass(str(target), PGPASS_BEGIN, PGPASS_END)
    proc = subprocess.Popen(
        [*harness.shell(), "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # as sshd starts it: default signal actions (a shell cannot trap a signal ignored on entry)
        preexec_fn=default_signals,
    )
    assert proc.stdin is not None
    proc.stdin.write(framed(block(SECRET.decode()))[:-5])
    proc.stdin.flush()
    _wait_until(lambda: files_holding(target.parent, SECRET))
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE])
def test_a_signalled_delivery_removes_its_temporaries(tmp_path: Path, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    target = home / ".pgpass"
    proc = _start_partial(target)
    os.kill(proc.pid, sig)  # the shell only, as a supervisor's timeout would
    try:
        proc.wait(timeout=10)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        time.sleep(0.2)  # anything still holding the stdin pipe gets its EOF and finishes writing
        if _alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert files_holding(home, SECRET) == []
    assert leftovers(home) == []
    assert not target.exists()


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_next_run_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    """SIGKILL cannot be trapped: the next delivery removes pg-dr's temporaries older than ten minutes."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    target = home / ".pgpass"
    proc = _start_partial(target)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stdin is not None
    proc.stdin.close()
    (stale,) = leftovers(home)
    old = time.time() - 3600
    os.utime(home / stale, (old, old))
    legacy = home / ".pg-dr.OLDSTYLE.in"  # an older pg-dr's temp file
    legacy.write_bytes(block("legacy-secret"))
    os.utime(legacy, (old, old))
    fresh = home / ".pg-dr.RUNNING1"  # a concurrent run's private directory: not touched
    fresh.mkdir(mode=0o700)
    result = deliver_block(target, block("new"))
    assert result.returncode == 0, result.stderr
    assert leftovers(home) == [".pg-dr.RUNNING1"]
    assert files_holding(home, SECRET) == [] and files_holding(home, b"legacy-secret") == []
