"""The scheduled drill's wrapper (pg-dr-drill-scheduled) with a stand-in pg-dr-drill (the restore contract's
last line: ``pg-dr-drill: OK {json}`` / ``pg-dr-drill: FAILED reason``), run as launchd and systemd run it
(no PATH, only HOME), under dash, posh and bash: history, metrics and pings after each outcome."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from components.borgmatic.config import BackupConfig
from components.monitoring.config import MonitoringConfig
from components.monitoring.plan import drill_wrapper
from tests.support.monitoring_host import home_backup
from tests.support.ping_server import PingServer
from tests.support.tools import require_tool

SHELLS = ["/bin/dash", "/bin/posh", "/bin/bash"]


def _backup(home: Path, **extra: object) -> BackupConfig:
    return home_backup(home, **extra)


def _result(archive_age: timedelta = timedelta(hours=1), seconds: float = 3.5) -> str:
    made = (datetime.now(UTC) - archive_age).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = {
        "archive": "pg-dr-indri-2026-12-03T02:00:00.000000",
        "archiveTime": made,
        "database": "miniflux",
        "restoreSeconds": seconds,
        "counts": {"public.users": 2, "public.my table": 44},
        "dumpCounts": {"public.users": 2, "public.my table": 44},
        "scratchDropped": True,
    }
    return "pg-dr-drill: OK " + json.dumps(result)


def _fake_drill(home: Path, body: str) -> None:
    path = home / "bin" / "pg-dr-drill"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def _run(home: Path, shell: str, hc: PingServer, rto: int | None = None, timeout: int = 60, **extra: object):
    require_tool(shell, {"/bin/posh": "posh", "/bin/bash": "bash"}.get(shell, "dash"))
    require_tool("/usr/bin/curl", "curl")
    require_tool("/usr/bin/perl", "perl")
    cfg = _backup(home, **extra)
    mon = MonitoringConfig.model_validate(
        {
            "healthchecks": {"pingUrl": hc.url("/ping/abc")},
            "uptimeKuma": {"pushUrl": hc.url("/api/push/kuma")},
            "ntfy": {"topic": "pgdr", "server": hc.url(), "accessToken": "env:TOKEN"},
        }
    )
    token = next(iter(mon.secret_refs()))
    wrapper = home / "bin" / "pg-dr-drill-scheduled"
    wrapper.write_text(drill_wrapper(cfg, mon, {token: "tk-secret"}, rto_seconds=rto, timeout=timeout))
    wrapper.chmod(0o700)
    # as the agent has it: HOME and nothing else (no PATH)
    return subprocess.run([shell, str(wrapper)], env={"HOME": str(home)}, capture_output=True, text=True, timeout=120)


def _history(home: Path) -> list[dict]:
    path = home / ".local" / "state" / "pg-dr" / "drills.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _metrics(home: Path) -> dict[str, float]:
    text = (home / "textfile" / "pg-dr.prom").read_text()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if not line.startswith("#")}


@pytest.mark.parametrize("shell", SHELLS)
def test_a_good_drill_is_recorded_measured_and_pinged(tmp_path: Path, shell: str) -> None:
    _fake_drill(tmp_path, "cat <<'END'\nrestoring\n" + _result() + "\nEND\n")
    with PingServer() as hc:
        proc = _run(tmp_path, shell, hc)
    assert proc.returncode == 0, proc.stderr
    (entry,) = _history(tmp_path)
    assert entry["ok"] is True and entry["failure"] is None
    assert entry["database"] == "miniflux" and entry["restoreSeconds"] == 3.5
    assert entry["counts"] == {"public.users": 2, "public.my table": 44}
    metrics = _metrics(tmp_path)
    assert metrics["pgdr_drill_last_ok"] == 1
    assert metrics["pgdr_drill_restore_seconds"] == 3.5
    assert abs(metrics["pgdr_drill_last_success_timestamp_seconds"] - time.time()) < 60
    assert (
        abs(metrics['pgdr_drill_verified_archive_timestamp_seconds{database="miniflux"}'] - (time.time() - 3600)) < 60
    )
    assert hc.paths()[0] == "/ping/abc/start"
    success = [p for p in hc.requests if p.path == "/ping/abc"]
    assert len(success) == 1 and "restored in 3.5s" in success[0].body
    kuma = [p for p in hc.requests if p.path == "/api/push/kuma"]
    assert [k.query["status"] for k in kuma] == [["up"], ["up"]]
    assert not [p for p in hc.requests if p.path == "/pgdr"]  # ntfy: failures only (its default states)
    assert "tk-secret" not in proc.stdout + proc.stderr


def test_a_forged_archive_fails_naming_the_table_and_pings_fail(tmp_path: Path) -> None:
    _fake_drill(tmp_path, "echo 'pg-dr-drill: FAILED table public.users: the dump held 2 rows, restored 1'\nexit 1\n")
    with PingServer() as hc:
        proc = _run(tmp_path, "/bin/dash", hc)
    assert proc.returncode == 1
    (entry,) = _history(tmp_path)
    assert entry["ok"] is False and "table public.users" in entry["failure"]
    assert _metrics(tmp_path)["pgdr_drill_last_ok"] == 0
    fail = [p for p in hc.requests if p.path == "/ping/abc/fail"]
    assert len(fail) == 1 and "table public.users: the dump held 2 rows, restored 1" in fail[0].body
    ntfy = [p for p in hc.requests if p.path == "/pgdr"]
    assert len(ntfy) == 1 and ntfy[0].headers["Authorization"] == "Bearer tk-secret"
    assert ntfy[0].headers["Priority"] == "high" and "table public.users" in ntfy[0].body
    kuma = [p for p in hc.requests if p.path == "/api/push/kuma"]
    assert kuma[-1].query["status"] == ["down"] and "table public.users" in kuma[-1].query["msg"][0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "pg-dr-drill is not an executable file"),
        ("echo 'could not connect to server' >&2\nexit 1\n", "without a result line: could not connect to server"),
        ("sleep 30\n", "still ran after 2s"),
        ("echo 'pg-dr-drill: OK {not json'\n", "not JSON"),
    ],
    ids=["missing", "server-down", "hanging", "garbled"],
)
def test_a_drill_that_could_not_run_is_a_failure_ping_not_silence(
    tmp_path: Path, body: str | None, reason: str
) -> None:
    if body is not None:
        _fake_drill(tmp_path, body)
    else:
        (tmp_path / "bin").mkdir()
    with PingServer() as hc:
        proc = _run(tmp_path, "/bin/dash", hc, timeout=2)
    assert proc.returncode == 1
    assert reason in proc.stderr
    fail = [p for p in hc.requests if p.path == "/ping/abc/fail"]
    assert len(fail) == 1 and reason in fail[0].body
    assert _history(tmp_path)[-1]["ok"] is False


def test_rpo_and_rto_are_enforced(tmp_path: Path) -> None:
    _fake_drill(tmp_path, "cat <<'END'\n" + _result(archive_age=timedelta(hours=30)) + "\nEND\n")
    with PingServer() as hc:
        proc = _run(tmp_path, "/bin/dash", hc)
    assert proc.returncode == 1 and "older than the RPO of 26 h (pg-dr:backup.rpoHours)" in proc.stderr
    _fake_drill(tmp_path, "cat <<'END'\n" + _result(seconds=90.0) + "\nEND\n")
    with PingServer() as hc:
        proc = _run(tmp_path, "/bin/dash", hc, rto=60)
    assert proc.returncode == 1 and "slower than the RTO of 60 s (pg-dr:drill.rtoSeconds)" in proc.stderr
    assert [e["ok"] for e in _history(tmp_path)] == [False, False]


def test_the_lock_held_past_the_wait_is_a_failure(tmp_path: Path) -> None:
    _fake_drill(tmp_path, "cat <<'END'\n" + _result() + "\nEND\n")
    state = tmp_path / ".local" / "state" / "pg-dr"
    state.mkdir(parents=True)
    holder = subprocess.Popen(["sleep", "60"])
    try:
        os.symlink(str(holder.pid), state / "run.lock")
        with PingServer() as hc:
            proc = _run(tmp_path, "/bin/dash", hc, runLockWaitSeconds=0)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 1
    assert f"another pg-dr run (pid {holder.pid}) still holds" in proc.stderr
    assert (state / "run.lock").is_symlink()  # the holder's lock is left alone


def test_history_keeps_the_last_100(tmp_path: Path) -> None:
    state = tmp_path / ".local" / "state" / "pg-dr"
    state.mkdir(parents=True)
    (state / "drills.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(100)))
    _fake_drill(tmp_path, "cat <<'END'\n" + _result() + "\nEND\n")
    with PingServer() as hc:
        assert _run(tmp_path, "/bin/dash", hc).returncode == 0
    history = _history(tmp_path)
    assert len(history) == 100 and history[0] == {"n": 1} and history[-1]["ok"] is True


def test_an_ok_result_without_restore_seconds_writes_no_empty_sample(tmp_path: Path) -> None:
    result = json.loads(_result().removeprefix("pg-dr-drill: OK "))
    del result["restoreSeconds"]
    _fake_drill(tmp_path, "cat <<'END'\npg-dr-drill: OK " + json.dumps(result) + "\nEND\n")
    with PingServer() as hc:
        assert _run(tmp_path, "/bin/dash", hc).returncode == 0
    text = (tmp_path / "textfile" / "pg-dr.prom").read_text()
    assert all(len(line.split()) == 2 for line in text.splitlines() if not line.startswith("#")), text
    assert "pgdr_drill_restore_seconds" not in text
