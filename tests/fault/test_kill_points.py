"""Kill-point sweep: a pgpass delivery killed before each tool it runs never leaves a partial or empty file.

Every external tool the script runs is wrapped; the k-th call signals the script's shell first, for every
k. Either signal: the file is the old or the new version and the history holds the old one whole (or
nothing). TERM (trapped): nothing else holds the new password, no temporary or lock is left. KILL (cannot
be trapped): the next run (after ten minutes) removes the leftovers, takes over the lock and delivers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from components.borgmatic.plan import PGPASS_BEGIN, PGPASS_END
from components.remote import delivery
from tests.fault import harness
from tests.fault.harness import block, deliver_block, files_holding, framed, leftovers

TOOLS = [
    "cat",
    "cmp",
    "chmod",
    "cp",
    "cut",
    "date",
    "dirname",
    "find",
    "grep",
    "head",
    "id",
    "ln",
    "ls",
    "mkdir",
    "mktemp",
    "mv",
    "rm",
    "sed",
    "sha256sum",
    "sort",
    "tail",
    "tr",
    "wc",
]
# each call claims the next free number (noclobber: two tools of a pipeline never share one)
WRAPPER = """#!/bin/sh
n=1
while read -r _; do n=$((n + 1)); done < "$PG_DR_CALLS"
until (set -C; : > "$PG_DR_CALLS.$n") 2>/dev/null; do n=$((n + 1)); done
echo "$n" >> "$PG_DR_CALLS"
if [ "$n" -eq "$PG_DR_KILL_AT" ]; then
  kill -"$PG_DR_SIGNAL" "$PG_DR_VICTIM"
fi
exec {real} "$@"
"""
USER = b"*:*:*:me:mine\n"
OLD, NEW = block("old-pw"), block("new-pw")


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH whose tools count their calls and signal the script at the chosen one."""
    bin_dir = tmp_path_factory.mktemp("wrapped")
    for tool in TOOLS:
        real = shutil.which(tool, path="/usr/bin:/bin")
        assert real, tool
        (bin_dir / tool).write_text(WRAPPER.format(real=real))
        (bin_dir / tool).chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def _run(home: Path, path: str, kill_at: int, sig: str) -> tuple[int, int, bytes]:
    """(exit status, number of tool calls, stderr) of one delivery of NEW, signalled at call ``kill_at``."""
    calls = home.parent / "calls"
    calls.write_text("")
    for claimed in home.parent.glob("calls.*"):
        claimed.unlink()
    script = delivery.deliver_pgpass(str(home / ".pgpass"), PGPASS_BEGIN, PGPASS_END)
    shell = harness.shell()
    env = {"PATH": path, "PG_DR_CALLS": str(calls), "PG_DR_KILL_AT": str(kill_at), "PG_DR_SIGNAL": sig}
    proc = subprocess.run(
        [*shell, "-c", f'PG_DR_VICTIM=$$; export PG_DR_VICTIM; exec {" ".join(shell)} -c "$1"', "sh", script],
        input=framed(NEW),
        capture_output=True,
        env=env,
        timeout=60,
    )
    time.sleep(0.01)  # a tool still running after a KILL finishes its call
    return proc.returncode, len(calls.read_text().splitlines()), proc.stderr


def _fresh_home(tmp_path: Path, k: int) -> Path:
    home = tmp_path / f"k{k}" / "home"
    home.mkdir(parents=True, mode=0o700)
    (home / ".pgpass").write_bytes(OLD + USER)
    return home


def _age(home: Path) -> None:
    old = time.time() - 3600
    for name in leftovers(home):
        os.utime(home / name, (old, old), follow_symlinks=False)


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_every_kill_point(tmp_path: Path, wrapped: str, sig: str) -> None:
    rc, total, _ = _run(_fresh_home(tmp_path, 0), wrapped, 0, sig)
    assert rc == 0 and total > 20
    killed = 0
    for k in range(1, total + 1):
        home = _fresh_home(tmp_path, k)
        target = home / ".pgpass"
        rc, _, stderr = _run(home, wrapped, k, sig)
        killed += rc != 0
        assert target.read_bytes() in (OLD + USER, NEW + USER), k
        history = Path(f"{target}.pg-dr-history")
        saved = [p.read_bytes() for p in history.glob("2*")] if history.exists() else []
        assert saved in ([], [OLD + USER]), k  # the replaced version, whole, at most once
        if sig == "TERM":
            assert leftovers(home) == [], k
            assert b"not found" not in stderr and b"rror" not in stderr, (k, stderr)  # a clean exit
            assert set(files_holding(home, b"new-pw")) <= {target}, k
        else:
            _age(home)
            proc = deliver_block(target, NEW)
            assert proc.returncode == 0, (k, proc.stderr)
            assert target.read_bytes() == NEW + USER and leftovers(home) == [], k
            assert set(files_holding(home, b"new-pw")) == {target}, k
    assert killed >= total - 1  # the last call may finish the run before the signal lands
