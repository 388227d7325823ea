"""``still_ours`` (components/remote/sh/delivery-prelude.sh) compares files by device and inode, under every
shell that stands for macOS ``/bin/sh``: ``[ A -ef B ]`` is not POSIX, and under posh it errored and the
removal answered "ours" for a file another path delivers (issue 16)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PRELUDE = Path(__file__).resolve().parents[3] / "components" / "remote" / "sh" / "delivery-prelude.sh"
SHELLS = [s for s in ("dash", "posh", "bash", "busybox") if shutil.which(s)]


def _functions(*names: str) -> str:
    text = PRELUDE.read_text()
    return "\n".join(re.search(rf"^{name}\(\) {{\n.*?^}}\n", text, re.M | re.S).group() for name in names)


def _still_ours(shell: str, target: Path, recorded: Path | None, owner: Path) -> int:
    if recorded is not None:
        owner.write_text(f"{recorded}\n")
    body = _functions("still_ours", "file_id", "same_file")
    text = f"set -eu\ntarget='{target}'\nowner='{owner}'\n{body}\nif still_ours; then exit 0; else exit 1; fi\n"
    argv = [shell, "sh", "-c", text] if shell == "busybox" else [shell, "-c", text]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.stderr == "", proc.stderr
    return proc.returncode


@pytest.mark.parametrize("shell", SHELLS)
def test_a_file_delivered_through_another_path_is_not_ours(shell: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "alias").symlink_to(home)
    target = home / ".pgpass"
    target.write_text("x\n")
    owner = tmp_path / "owner"
    assert _still_ours(shell, target, tmp_path / "alias" / ".pgpass", owner) == 1  # same file, other path
    assert _still_ours(shell, target, target, owner) == 0  # our own path
    other = tmp_path / "other"
    other.write_text("x\n")
    assert _still_ours(shell, target, other, owner) == 0  # another file: the record no longer reaches it
    assert _still_ours(shell, target, tmp_path / "gone", owner) == 0
    owner.unlink()
    assert _still_ours(shell, target, None, owner) == 0  # no record (an older pg-dr)
