"""The verification's script, signalled mid-way (a supervisor: TERM), still removes its temp dir; borgmatic is
a stand-in. (pg-dr-restore, which the drill runs, is signalled at every phase against real servers in
tests/e2e/test_restore.py: TERM, KILL, and HUP to its process group.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.fault import harness
from tests.support.signals import default_signals


def _start(script: str, tmp: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*harness.shell(), "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp)},
        start_new_session=True,
        preexec_fn=default_signals,
    )


def test_the_verification_removes_its_temp_dir_on_a_signal(tmp_path: Path) -> None:
    """borgmatic (a stand-in) hangs in ``create``; TERM to the script still removes its temp dir."""
    from components.borgmatic.plan import ExpectedDump
    from components.borgmatic.scripts import verify

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    borgmatic = tmp_path / "borgmatic"
    borgmatic.write_text('#!/bin/sh\ncase "$*" in *create*) echo hung > "$0.hung"; sleep 30 ;; esac\n')
    borgmatic.chmod(0o755)
    script = verify(str(borgmatic), "/cfg.yaml", str(tmp_path), ["local"], [ExpectedDump("app", "x", False)], {})
    proc = _start(script, tmp)
    deadline = time.monotonic() + 10
    while not Path(f"{borgmatic}.hung").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    assert len(list(tmp.iterdir())) == 1  # its work dir
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert list(tmp.iterdir()) == []
