"""Replaced and removed versions go to a bounded, timestamped history that never overwrites an entry."""

from __future__ import annotations

import re
from pathlib import Path

from tests.fault.harness import block, deliver, deliver_block, remove, remove_block

KEEP = 10
ENTRY = re.compile(r"^\d{8}T\d{6}Z-\d{3}(-removed)?$")


def _history(target: Path) -> list[Path]:
    directory = Path(f"{target}.pg-dr-history")
    return sorted(p for p in directory.iterdir() if ENTRY.match(p.name)) if directory.exists() else []


def test_the_hand_written_file_survives_later_changes(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("hand written\n")
    for i in range(3):
        assert deliver(target, f"version {i}\n").returncode == 0
    history = _history(target)
    assert [p.read_text() for p in history] == ["hand written\n", "version 0\n", "version 1\n"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in history)
    assert Path(f"{target}.pg-dr-history").stat().st_mode & 0o777 == 0o700


def test_the_history_keeps_the_newest_entries(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    for i in range(KEEP + 4):
        assert deliver(target, f"version {i}\n").returncode == 0
    history = _history(target)
    assert len(history) == KEEP
    assert [p.read_text() for p in history] == [f"version {i}\n" for i in range(3, KEEP + 3)]


def test_two_removals_in_one_second_keep_both_versions(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    for text in ("first\n", "second\n"):
        assert deliver(target, text).returncode == 0
        proc = remove(target, text)
        assert proc.returncode == 0, proc.stderr
        assert not target.exists()
    removed = [p for p in _history(target) if p.name.endswith("-removed")]
    assert sorted(p.read_text() for p in removed) == ["first\n", "second\n"]


def test_pgpass_versions_go_to_the_history(tmp_path: Path) -> None:
    target = tmp_path / ".pgpass"
    target.write_bytes(b"*:*:*:me:mine\n")
    assert deliver_block(target, block("one")).returncode == 0
    assert deliver_block(target, block("two")).returncode == 0
    assert remove_block(target, block("two")).returncode == 0
    assert target.read_bytes() == b"*:*:*:me:mine\n"
    assert [p.read_bytes() for p in _history(target)] == [
        b"*:*:*:me:mine\n",
        block("one") + b"*:*:*:me:mine\n",
        block("two") + b"*:*:*:me:mine\n",
    ]
