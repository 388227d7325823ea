"""``make diff`` reviews dev -> prod by default; differing stacks are a review, not a failed make."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import require_tool

CHECKOUT = Path(__file__).resolve().parents[3]
VENV = Path(sys.executable).parent.parent


def make(*args: str) -> subprocess.CompletedProcess[str]:
    require_tool("make", "make")
    installed = VENV / ".installed"
    return subprocess.run(
        # -o: never (re)install the venv from a test
        ["make", "-s", "-o", str(installed), f"VENV={VENV}", *args],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
        timeout=120,
    )


def test_make_diff_defaults_to_dev_prod_and_differing_is_not_a_failure() -> None:
    result = make("diff")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("--- dev (") and lines[1].startswith("+++ prod (")
    assert lines[-1] == "make diff: dev and prod differ, review the above (pg-dr diff exit 1)"
    assert "Error" not in result.stderr


def test_make_diff_same_stacks() -> None:
    result = make("diff", "A=prod", "B=prod")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "make diff: prod and prod render the same (pg-dr diff exit 0)"


def test_make_diff_error_fails() -> None:
    result = make("diff", "B=staging")
    assert result.returncode == 2
    assert "no stack file Pulumi.staging.yaml" in result.stderr
    assert "make diff: pg-dr diff failed (exit 2)" in result.stderr


@pytest.mark.parametrize(("stacks", "code"), [("dev prod", 0), ("dev staging", 2)])
def test_make_check(stacks: str, code: int) -> None:
    result = make("check", f"STACKS={stacks}")
    assert result.returncode == code, result.stderr
    assert "ok: stack dev:" in result.stdout
