"""Temporary files live in one private directory; a directory other users can write is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.remote import delivery
from tests.fault.harness import block, deliver, deliver_block, framed, leftovers, remove, remove_block, sh

# mktemp with predictable names (what an attacker who guessed the random part sees): .AAAAAAAA, .AAAAAAAB...
PREDICTABLE_MKTEMP = """#!/bin/sh
dir=0
[ "$1" = -d ] && { dir=1; shift; }
template=$1
for suffix in AAAAAAAA AAAAAAAB AAAAAAAC AAAAAAAD; do
  name=$(printf '%s' "$template" | sed -e "s/XXXXXXXX$/$suffix/")
  if [ "$dir" -eq 1 ]; then
    mkdir -m 700 "$name" 2>/dev/null && { echo "$name"; exit 0; }
  else
    (set -C; : > "$name") 2>/dev/null && { chmod 600 "$name"; echo "$name"; exit 0; }
  fi
done
exit 1
"""


@pytest.fixture
def predictable_path(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mktemp").write_text(PREDICTABLE_MKTEMP)
    (bin_dir / "mktemp").chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_planted_symlinks_cannot_redirect_a_write(tmp_path: Path, predictable_path: dict[str, str]) -> None:
    """Symlinks planted at every name the old scripts derived from the temp file lead nowhere."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    victim = tmp_path / "authorized_keys"
    victim.write_bytes(b"ssh-ed25519 AAAA victim\n")
    target = home / ".pgpass"
    target.write_bytes(b"*:*:*:me:mine\n")
    for suffix in ("AAAAAAAA", "AAAAAAAB"):
        for ext in ("", ".in", ".prev", ".cur"):
            if ext or suffix == "AAAAAAAB":
                (home / f".pg-dr.{suffix}{ext}").symlink_to(victim)
    script = delivery.deliver_pgpass(str(target), "# BEGIN pg-dr", "# END pg-dr")
    proc = sh(script, framed(block("pw")), env=predictable_path)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_bytes() == b"ssh-ed25519 AAAA victim\n"
    assert target.read_bytes() == block("pw") + b"*:*:*:me:mine\n"


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o770, 0o757])
def test_a_directory_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "Shared"
    shared.mkdir()
    shared.chmod(mode)
    target = shared / ".pgpass"
    proc = deliver_block(target, block("pw"))
    assert proc.returncode == 1
    assert f"{shared} is writable by other users".encode() in proc.stderr
    assert sorted(p.name for p in shared.iterdir()) == []
    proc = deliver(shared / "config.yaml", "x: 1\n")
    assert proc.returncode == 1 and f"{shared} is writable by other users".encode() in proc.stderr
    assert sorted(p.name for p in shared.iterdir()) == []


def test_removals_refuse_a_directory_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "Shared"
    shared.mkdir(mode=0o700)
    assert deliver(shared / "config.yaml", "x: 1\n").returncode == 0
    assert deliver_block(shared / ".pgpass", block("pw")).returncode == 0
    shared.chmod(0o777)
    assert remove(shared / "config.yaml", "x: 1\n").returncode == 1
    assert remove_block(shared / ".pgpass", block("pw")).returncode == 1
    assert (shared / "config.yaml").read_text() == "x: 1\n"
    assert (shared / ".pgpass").read_bytes() == block("pw")


def test_temporaries_live_in_one_private_directory(tmp_path: Path) -> None:
    """A hook run mid-delivery sees exactly one new entry in the target's directory: a 0700 directory."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    spy = tmp_path / "spy"
    hook = f"ls -la {home} > {spy}; for d in {home}/.pg-dr.*; do stat -c '%a %F' \"$d\" >> {spy}; done"
    proc = deliver(home / "config.yaml", "x: 1\n", after_change=hook)
    assert proc.returncode == 0, proc.stderr
    lines = spy.read_text().splitlines()
    assert lines[-1] == "700 directory"
    assert sum(line.split()[-1].startswith(".pg-dr.") for line in lines[1:-1]) == 1
    assert leftovers(home) == []
    assert os.stat(home / "config.yaml").st_mode & 0o777 == 0o600
