"""A missing tool skips a test naming its Debian package on a developer's machine, and fails it under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import require_postgres, require_root, require_tool

CHECKOUT = Path(__file__).resolve().parents[3]


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holding one empty directory; CI unset."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("CI", raising=False)
    return bin_dir


def test_missing_tool_skips_naming_the_package(bare_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_tool("systemd-analyze", "systemd")
    assert str(skipped.value) == (
        "systemd-analyze not found: install the Debian package systemd (apt-get install systemd)"
    )


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_missing_tool_fails_under_ci(ci: str, bare_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool("borg", "borgbackup")
    assert "install the Debian package borgbackup" in str(failed.value)
    assert "CI=true: a missing requirement fails the run" in str(failed.value)


def test_ci_false_still_skips(bare_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_tool("zsh", "zsh")


def test_present_tool_is_returned(bare_path: Path) -> None:
    tool = bare_path / "zsh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert require_tool("zsh", "zsh") == str(tool)
    assert require_tool(str(tool), "zsh") == str(tool)  # an absolute path is checked as is
    with pytest.raises(pytest.skip.Exception, match="openssh-server"):
        require_tool(str(bare_path / "sshd"), "openssh-server")


def test_missing_postgres_names_the_package(bare_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGDR_PG_BIN", str(bare_path))
    with pytest.raises(pytest.skip.Exception, match="install the Debian package postgresql"):
        require_postgres()


def test_root_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root: it creates users"):
        require_root("it creates users")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    require_root("it creates users")  # returns


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 failed")])
def test_a_whole_run_skips_or_fails(ci: str, outcome: str, tmp_path: Path) -> None:
    """As pytest reports it: skipped with the package in the reason, or a failed run under CI."""
    (tmp_path / "test_needs_tool.py").write_text(
        "from tests.support.tools import require_tool\n\n"
        "def test_it():\n"
        "    require_tool('pg-dr-no-such-tool', 'pg-dr-no-such-package')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(CHECKOUT), "CI": ci}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert outcome in result.stdout, result.stdout + result.stderr
    assert "install the Debian package pg-dr-no-such-package" in result.stdout
    assert result.returncode == (1 if ci else 0)
