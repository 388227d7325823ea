"""The LaunchAgent reload (components/borgmatic/sh/launchd-*.sh) under a launchd stand-in, in every shell that
shares macOS sh's behaviour we can run here (dash, posh, bash --posix): launchd refuses a bootstrap for a few
seconds after a bootout, and a bootout while the agent runs kills pg-dr's nightly backup (issue 16)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.borgmatic import scripts

SHELLS = [argv for argv in (["dash"], ["posh"], ["bash", "--posix"]) if shutil.which(argv[0])]
LABEL = "io.pg-dr.borgmatic"

# launchctl stand-in: `print` says "state = running" while $dir/running counts down, reports the job while
# it is loaded; `bootstrap` fails while $dir/refusals counts down (launchd's "Input/output error")
_LAUNCHCTL = """#!/bin/sh
dir=$(dirname "$0")
printf '%s\\n' "$*" >>"$dir/calls"
countdown() {
  n=$(cat "$dir/$1" 2>/dev/null || printf '0')
  [ "$n" -gt 0 ] || return 1
  printf '%s\\n' "$((n - 1))" >"$dir/$1"
}
case $1 in
  print)
    [ -f "$dir/loaded" ] || exit 113
    if countdown running; then state=running; else state='not running'; fi
    printf '%s\\n' "$2 = {" "	active count = 0" "	state = $state" "}" ;;
  bootout) rm -f "$dir/loaded" ;;
  bootstrap)
    if countdown refusals; then
      printf '%s\\n' "Bootstrap failed: 5: Input/output error" >&2
      exit 5
    fi
    : >"$dir/loaded" ;;
esac
"""


def _stand_in(tmp_path: Path, *, loaded: bool, running: int = 0, refusals: int = 0) -> Path:
    launchctl = tmp_path / "launchctl"
    launchctl.write_text(_LAUNCHCTL)
    launchctl.chmod(0o755)
    if loaded:
        (tmp_path / "loaded").touch()
    (tmp_path / "running").write_text(f"{running}\n")
    (tmp_path / "refusals").write_text(f"{refusals}\n")
    return launchctl


def _run(shell: list[str], text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*shell, "-c", "set -u\n" + text], capture_output=True, text=True, check=False, timeout=60)


def _calls(tmp_path: Path) -> list[str]:
    return [line.split()[0] for line in (tmp_path / "calls").read_text().splitlines()]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda a: a[0])
def test_a_refused_bootstrap_after_a_bootout_is_retried(shell: list[str], tmp_path: Path) -> None:
    launchctl = _stand_in(tmp_path, loaded=True, refusals=3)
    after_change, always = scripts.launchd_reload(str(launchctl), LABEL, "/p.plist", tries=5, retry_seconds=0)
    proc = _run(shell, after_change + "\n" + always)
    assert proc.returncode == 0, proc.stderr
    assert _calls(tmp_path) == ["print", "bootout", "print", "print", *["bootstrap"] * 4]
    assert (tmp_path / "loaded").exists()
    assert proc.stdout == f"pg-dr: launchd job {LABEL} loaded\n"


@pytest.mark.parametrize("shell", SHELLS, ids=lambda a: a[0])
def test_a_bootstrap_refused_beyond_the_bound_fails_naming_launchd_s_error(shell: list[str], tmp_path: Path) -> None:
    launchctl = _stand_in(tmp_path, loaded=False, refusals=100)
    _, always = scripts.launchd_reload(str(launchctl), LABEL, "/p.plist", tries=4, retry_seconds=0)
    proc = _run(shell, always)
    assert proc.returncode == 1
    assert _calls(tmp_path).count("bootstrap") == 4
    assert proc.stderr == (
        f"pg-dr: launchctl bootstrap of {LABEL} failed 4 times: Bootstrap failed: 5: Input/output error\n"
    )


@pytest.mark.parametrize("shell", SHELLS, ids=lambda a: a[0])
def test_the_reload_waits_for_the_agent_s_backup_in_progress(shell: list[str], tmp_path: Path) -> None:
    launchctl = _stand_in(tmp_path, loaded=True, running=3)
    proc = _run(shell, scripts.launchd_unload(str(launchctl), LABEL, run_wait=10, retry_seconds=0))
    assert proc.returncode == 0, proc.stderr
    # three looks at a running job, the fourth sees it idle: only then the bootout
    assert _calls(tmp_path) == ["print"] * 4 + ["bootout", "print"]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda a: a[0])
def test_a_backup_that_outlasts_the_wait_is_never_booted_out(shell: list[str], tmp_path: Path) -> None:
    launchctl = _stand_in(tmp_path, loaded=True, running=1000)
    proc = _run(shell, scripts.launchd_unload(str(launchctl), LABEL, run_wait=1, retry_seconds=1))
    assert proc.returncode == 1
    assert "bootout" not in _calls(tmp_path)
    assert proc.stderr == (
        f"pg-dr: launchd job {LABEL} is still running its backup after 1s: not reloaded now, the next pulumi up "
        "reloads it\n"
    )
