"""A delivery whose stdin arrives cut short (a dropped SSH connection) installs nothing and fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault.harness import block, deliver, deliver_block, framed, leftovers, remove, remove_block

TEXT = "location:\n  repositories:\n    - path: /backups/borg\n" * 3
OLD = "the hand-written config\n"


@pytest.mark.parametrize("cut", [0, 1, len(TEXT) // 2, len(TEXT) - 1])
def test_a_cut_file_is_refused_and_the_old_one_kept(tmp_path: Path, cut: int) -> None:
    target = tmp_path / "config.yaml"
    target.write_text(OLD)
    proc = deliver(target, TEXT, stdin=TEXT.encode()[:cut])
    assert proc.returncode != 0
    assert b"stdin" in proc.stderr and str(target).encode() in proc.stderr
    assert target.read_text() == OLD
    assert leftovers(tmp_path) == []


def test_a_cut_file_never_creates_the_target(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    assert deliver(target, TEXT, stdin=b"").returncode != 0
    assert not target.exists()


def test_different_bytes_of_the_same_length_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    assert deliver(target, TEXT, stdin=TEXT.upper().encode()).returncode != 0
    assert not target.exists()


def test_the_whole_file_is_installed(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    proc = deliver(target, TEXT)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == TEXT


def test_a_cut_removal_removes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    assert deliver(target, TEXT).returncode == 0
    assert remove(target, TEXT, stdin=b"").returncode != 0
    assert target.read_text() == TEXT


def test_a_cut_pgpass_block_is_refused_at_every_length(tmp_path: Path) -> None:
    """Every prefix of the framed stdin (header and block) is refused; the user's file is untouched."""
    target = tmp_path / ".pgpass"
    user = b"*:*:*:me:mine\n"
    target.write_bytes(user)
    stdin = framed(block("s3cret"))
    for cut in range(len(stdin)):
        proc = deliver_block(target, block("s3cret"), stdin=stdin[:cut])
        assert proc.returncode != 0, cut
        assert target.read_bytes() == user, cut
    assert b"s3cret" not in proc.stderr + proc.stdout
    assert leftovers(tmp_path) == []
    assert deliver_block(target, block("s3cret")).returncode == 0
    assert target.read_bytes() == block("s3cret") + user


def test_a_pgpass_block_without_its_end_line_is_refused(tmp_path: Path) -> None:
    """Even with a matching length and digest (a caller bug), the block must run from BEGIN to END."""
    target = tmp_path / ".pgpass"
    cut = block("pw")[:-4]
    proc = deliver_block(target, cut, stdin=framed(cut))
    assert proc.returncode != 0 and b"END" in proc.stderr
    assert not target.exists()


def test_a_cut_pgpass_removal_leaves_the_block(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    assert deliver_block(target, block("pw")).returncode == 0
    for cut in (0, 5, len(framed(block("pw"))) - 1):
        proc = remove_block(target, block("pw"), stdin=framed(block("pw"))[:cut])
        assert proc.returncode != 0 and target.read_bytes() == block("pw")
    assert remove_block(target, block("pw")).returncode == 0
    assert target.read_bytes() == b""
