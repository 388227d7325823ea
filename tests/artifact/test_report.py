"""pg-dr-report (what borgmatic's hooks and the verification run): metrics written by concurrent writers
all survive (they take turns on the file), and the run lock is taken, waited for, and released."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.monitoring.plan import report_script
from tests.support.monitoring_host import home_backup
from tests.support.tools import require_tool


def _report(home: Path, **extra: object) -> Path:
    cfg = home_backup(home, **extra)
    path = home / "bin" / "pg-dr-report"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_script(cfg))
    path.chmod(0o700)
    return path


@pytest.mark.parametrize("shell", ["/bin/dash", "/bin/posh", "/bin/bash"])
def test_concurrent_metric_writers_lose_nothing(tmp_path: Path, shell: str) -> None:
    require_tool(shell, {"/bin/posh": "posh", "/bin/bash": "bash"}.get(shell, "dash"))
    report = _report(tmp_path)
    env = {"HOME": str(tmp_path)}
    writers = [
        subprocess.Popen([shell, str(report), "metric", f"pgdr_test_{i}", f'n="{i}"', str(i)], env=env)
        for i in range(12)
    ]
    assert [w.wait(timeout=60) for w in writers] == [0] * 12
    text = (tmp_path / "textfile" / "pg-dr.prom").read_text()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert sorted(samples) == sorted(f'pgdr_test_{i}{{n="{i}"}} {i}' for i in range(12)), text
    assert sorted(p.name for p in (tmp_path / "textfile").iterdir()) == ["pg-dr.prom"]  # no temp or lock left


def test_backup_ok_sets_each_database_and_keeps_other_samples(tmp_path: Path) -> None:
    report = _report(tmp_path)
    env = {"HOME": str(tmp_path)}
    assert subprocess.run([str(report), "metric", "pgdr_drill_last_ok", "", "1"], env=env).returncode == 0
    labels = ['database="a",server="h:1"', 'database="b",server="h:1"']
    assert subprocess.run([str(report), "backup-ok", *labels], env=env).returncode == 0
    text = (tmp_path / "textfile" / "pg-dr.prom").read_text()
    assert "pgdr_drill_last_ok 1" in text.splitlines()
    assert text.count("pgdr_backup_last_success_timestamp_seconds{") == 2
    assert text.count("# TYPE pgdr_backup_last_success_timestamp_seconds gauge") == 1


def test_the_run_lock_waits_bounded_then_fails_and_is_released_by_its_holder_only(tmp_path: Path) -> None:
    report = _report(tmp_path, runLockWaitSeconds=1)
    env = {"HOME": str(tmp_path)}
    lock = tmp_path / ".local" / "state" / "pg-dr" / "run.lock"
    holder = subprocess.Popen(["sleep", "60"])
    try:
        assert subprocess.run([str(report), "lock", str(holder.pid)], env=env).returncode == 0
        assert os.readlink(lock) == str(holder.pid)
        other = subprocess.run([str(report), "lock", "1"], env=env, capture_output=True, text=True)
        assert other.returncode == 1 and f"(pid {holder.pid}) still holds {lock} after 1s" in other.stderr
        subprocess.run([str(report), "unlock", "1"], env=env)  # not the holder: nothing happens
        assert lock.is_symlink()
        subprocess.run([str(report), "unlock", str(holder.pid)], env=env)
        assert not lock.is_symlink()
    finally:
        holder.kill()
        holder.wait()
    # a holder that is gone is taken over at once
    os.symlink(str(holder.pid), lock)
    assert subprocess.run([str(report), "lock", "4242"], env=env).returncode == 0
    assert os.readlink(lock) == "4242"
