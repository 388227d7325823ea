"""The pgpass file: two writers at once, a NUL byte, a file the user cannot read, a stale lock."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.borgmatic.plan import PGPASS_BEGIN, PGPASS_END
from components.remote import delivery
from tests.fault import harness
from tests.fault.harness import DRILL_BEGIN, DRILL_END, block, deliver_block, framed, leftovers

ROUNDS = 20


def _start(target: Path, begin: str, end: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*harness.shell(), "-c", delivery.deliver_pgpass(str(target), begin, end)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_the_backups_and_the_drills_blocks_delivered_at_once_both_survive(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    target.write_bytes(b"*:*:*:me:mine\n")
    for i in range(ROUNDS):
        backup, drill = block(f"backup-{i}"), block(f"drill-{i}", DRILL_BEGIN, DRILL_END)
        procs = [_start(target, PGPASS_BEGIN, PGPASS_END), _start(target, DRILL_BEGIN, DRILL_END)]
        for proc, data in zip(procs, (backup, drill), strict=True):
            assert proc.stdin is not None
            proc.stdin.write(framed(data))
            proc.stdin.close()
        for proc in procs:
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.read()
            err = proc.stderr.read()
            assert proc.wait(timeout=60) == 0, err
            proc.stdout.close()
            proc.stderr.close()
        text = target.read_bytes()
        assert backup in text and drill in text, f"round {i}: {text!r}"
        assert text.endswith(b"*:*:*:me:mine\n")
    assert leftovers(tmp_path) == []


def test_a_stale_lock_left_by_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    lock = Path(f"{target}.pg-dr.lock")
    dead = subprocess.run(["/bin/sh", "-c", "echo $$"], capture_output=True, text=True).stdout.strip()
    lock.symlink_to(dead)
    proc = deliver_block(target, block("pw"))
    assert proc.returncode == 0, proc.stderr
    assert f"taking over the stale lock {lock} (pid {dead} is gone".encode() in proc.stderr
    assert target.read_bytes() == block("pw") and not lock.is_symlink()


def test_a_live_lock_is_waited_for(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    lock = Path(f"{target}.pg-dr.lock")
    holder = subprocess.Popen(["sleep", "30"])
    try:
        lock.symlink_to(str(holder.pid))
        proc = subprocess.Popen(
            [*harness.shell(), "-c", delivery.deliver_pgpass(str(target), PGPASS_BEGIN, PGPASS_END)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc.stdin.write(framed(block("pw")))
        proc.stdin.close()
        time.sleep(0.5)
        assert proc.poll() is None and not target.exists()  # waiting for the holder
        lock.unlink()
        assert proc.wait(timeout=10) == 0
        assert target.read_bytes() == block("pw")
    finally:
        holder.kill()
        holder.wait()


def test_a_nul_byte_in_the_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    content = b"*:*:*:me:pw\x00" + block("old") + b"x:1:*:y:z\n"
    target.write_bytes(content)
    proc = deliver_block(target, block("new"))
    assert proc.returncode == 1
    assert proc.stderr == f"pg-dr: {target} contains a NUL byte: fix it by hand (pg-dr edits text only)\n".encode()
    assert target.read_bytes() == content


@pytest.fixture
def other_user() -> Iterator[tuple[str, int, int, Path]]:
    """A throwaway unprivileged user and a home it owns (outside root's 0700 temp dirs)."""
    name = f"pgdr-fault-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)
    home = Path(tempfile.mkdtemp(prefix="pgdr-fault-"))
    try:
        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        home.chmod(0o700)
        yield name, entry.pw_uid, entry.pw_gid, home
    finally:
        subprocess.run(["userdel", "--force", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_an_unreadable_file_gets_one_clear_message(other_user: tuple[str, int, int, Path]) -> None:
    name, uid, gid, home = other_user
    target = home / ".pgpass"
    target.write_bytes(b"*:*:*:root:secret\n")
    target.chmod(0o600)  # root-owned, unreadable for the user
    proc = subprocess.run(
        [*harness.shell(), "-c", delivery.deliver_pgpass(str(target), PGPASS_BEGIN, PGPASS_END)],
        input=framed(block("pw")),
        capture_output=True,
        user=uid,
        group=gid,
        extra_groups=[],
        cwd=home,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
    )
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        f"pg-dr: {target} is not readable by {name}: fix its owner or mode (it should be {name}'s own, 0600)"
    ]
    assert target.read_bytes() == b"*:*:*:root:secret\n"
