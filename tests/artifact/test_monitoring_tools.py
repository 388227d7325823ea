"""What the monitoring delivers, checked with the real tools: borgmatic config validate (every hook),
the scheduled drill's systemd units (systemd-analyze verify, then the service's command run with the unit's
environment as the timer would) and LaunchAgent (plistlib, then its command run with exactly the agent's
environment: no PATH but the plist's), promtool on the alert rules (check and unit test) and on the metrics
file the wrapper writes."""

from __future__ import annotations

import itertools
import json
import plistlib
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.project import PROJECT_DIR
from tests.support.backup_host import BORGMATIC
from tests.support.ping_server import PingServer
from tests.support.postgres import PostgresServer, pg_bin_dir
from tests.support.render import render_config
from tests.support.stacks import stack
from tests.support.tools import require_tool

BACKUP_LABELS = 'database="miniflux",server="k8s:5432",instance="indri"'
RULES = PROJECT_DIR / "monitoring" / "pg-dr.rules.yml"


def _drill_stack(home: Path, kind: str, monitoring: dict[str, Any] | None = None, **sched: Any) -> dict[str, Any]:
    config = stack()
    backup = config["pg-dr:backup"]
    backup.update(
        borgmaticPath=BORGMATIC,
        homeDir=str(home),
        schedule={"kind": kind, "hour": 1, "minute": 15},
        metrics={"textfilePath": str(home / "textfile" / "pg-dr.prom")},
        monitoring={
            "healthchecks": {"pingUrl": "env:HC"},
            "ntfy": {"topic": "pgdr", "server": "https://ntfy.example.org", "username": "u", "password": "env:NP"},
            "uptimeKuma": {"pushUrl": "https://kuma.example.org/api/push/x"},
        },
    )
    db = backup["databases"][0]
    config["pg-dr:drill"] = {
        "enabled": True,
        "database": db["name"],
        "sourceHostname": db["hostname"],
        "target": {"hostname": "127.0.0.1", "port": 5432, "username": "pgdr_drill"},
        "expectedCounts": {"entries": 1},
        "schedule": sched,
        "monitoring": monitoring or {},
    }
    return config


def _files(config: dict[str, Any], home: Path) -> dict[str, str]:
    return {Path(p).name: t for p, t in render_config(config).render_files().items()}


def test_the_config_with_every_monitoring_hook_passes_real_borgmatic_validate(tmp_path: Path) -> None:
    files = _files(_drill_stack(tmp_path, "systemd"), tmp_path)
    config = tmp_path / "pg-dr.yaml"
    config.write_text(files["borgmatic.yaml"])
    proc = subprocess.run([BORGMATIC, "config", "validate", "-c", str(config)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for key in ("healthchecks:", "send_logs: true", "ntfy:", "uptime_kuma:", "commands:"):
        assert key in files["borgmatic.yaml"]


def _fake_drill(home: Path) -> None:
    made = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = {"archive": "pg-dr-a", "archiveTime": made, "database": "miniflux", "restoreSeconds": 2.5, "counts": {}}
    drill = home / ".local" / "bin" / "pg-dr-drill"
    drill.parent.mkdir(parents=True, exist_ok=True)
    drill.write_text(f"#!/bin/sh\ncat <<'END'\npg-dr-drill: OK {json.dumps(result)}\nEND\n")
    drill.chmod(0o755)


def _wrapper(home: Path, files: dict[str, str]) -> None:
    require_tool("/usr/bin/curl", "curl")
    require_tool("/usr/bin/perl", "perl")
    wrapper = home / ".local" / "bin" / "pg-dr-drill-scheduled"
    wrapper.write_text(files["pg-dr-drill-scheduled"])
    wrapper.chmod(0o700)


def test_drill_systemd_units_verify_and_run_as_the_timer_would(tmp_path: Path) -> None:
    require_tool("systemd-analyze", "systemd")
    with PingServer() as hc:
        config = _drill_stack(tmp_path, "systemd", {"healthchecks": {"pingUrl": hc.url("/ping/drill")}})
        files = _files(config, tmp_path)
        timer = files["io.pg-dr.drill.timer"]
        assert "OnCalendar=Sun *-*-* 03:15:00" in timer  # default: Sundays, two hours after the backup
        units = []
        for name in ("io.pg-dr.drill.service", "io.pg-dr.drill.timer"):
            units.append(tmp_path / name)
            units[-1].write_text(files[name])
        _fake_drill(tmp_path)
        _wrapper(tmp_path, files)
        proc = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # the service's ExecStart with its Environment= lines and nothing else (a user service has HOME)
        service = files["io.pg-dr.drill.service"].splitlines()
        env = {"HOME": str(tmp_path)}
        env |= dict(line[len("Environment=") :].split("=", 1) for line in service if line.startswith("Environment="))
        (exec_start,) = (line[len("ExecStart=") :] for line in service if line.startswith("ExecStart="))
        proc = subprocess.run(shlex.split(exec_start), env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert hc.paths() == ["/ping/drill/start", "/ping/drill"]
    history = (tmp_path / ".local" / "state" / "pg-dr" / "drills.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["ok"] is True


def test_drill_launch_agent_lints_and_runs_with_the_agents_environment(tmp_path: Path) -> None:
    with PingServer() as hc:
        config = _drill_stack(tmp_path, "launchd", {"uptimeKuma": {"pushUrl": hc.url("/api/push/k")}}, weekday=3)
        files = _files(config, tmp_path)
        plist = plistlib.loads(files["io.pg-dr.drill.plist"].encode())
        assert plist["StartCalendarInterval"] == {"Hour": 3, "Minute": 15, "Weekday": 3}
        assert plist["Label"] == "io.pg-dr.drill" and plist["RunAtLoad"] is False
        _fake_drill(tmp_path)
        _wrapper(tmp_path, files)
        # launchd starts the job with the plist's EnvironmentVariables and nothing else
        proc = subprocess.run(
            plist["ProgramArguments"], env=plist["EnvironmentVariables"], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert [p.query["status"] for p in hc.requests] == [["up"], ["up"]]


def test_the_alert_rules_pass_promtool_and_fire(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    proc = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                # a backup made at t=0, then nothing: at 27 h it is too old; a failed drill alerts at once
                "interval": "1m",  # node_exporter is scraped often; a series older than 5 min is stale
                "input_series": [
                    {"series": f"pgdr_backup_last_success_timestamp_seconds{{{BACKUP_LABELS}}}", "values": "0x1700"},
                    {"series": 'pgdr_drill_last_ok{instance="indri"}', "values": "1x120 0x200"},
                    {"series": 'pgdr_backup_uncovered_databases{instance="indri"}', "values": "0x300"},
                ],
                "alert_rule_test": [
                    {"eval_time": "2h", "alertname": "PgDrBackupTooOld",
                     "exp_alerts": []},
                    {"eval_time": "27h", "alertname": "PgDrBackupTooOld",
                     "exp_alerts": [{"exp_labels": {"severity": "critical", "database": "miniflux",
                                                    "server": "k8s:5432", "instance": "indri"}}]},
                    {"eval_time": "90m", "alertname": "PgDrDrillFailed", "exp_alerts": []},
                    {"eval_time": "3h", "alertname": "PgDrDrillFailed",
                     "exp_alerts": [{"exp_labels": {"severity": "critical", "instance": "indri"}}]},
                    {"eval_time": "3h", "alertname": "PgDrUncoveredDatabases", "exp_alerts": []},
                ],
            }
        ],
    }  # fmt: skip
    # the annotations as promtool renders them (templates included): descriptions from the file, summaries here
    rules = {r["alert"]: r for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    summaries = {
        "PgDrBackupTooOld": "pg-dr: no successful backup of miniflux (k8s:5432) for 1d 3h 0m 0s",
        "PgDrDrillFailed": "pg-dr: the last restore drill on indri failed",
    }
    for item in tests["tests"][0]["alert_rule_test"]:  # type: ignore[index]
        for alert in item["exp_alerts"]:
            name = item["alertname"]
            alert["exp_annotations"] = {
                "summary": summaries[name],
                "description": rules[name]["annotations"]["description"],
            }
    spec = tmp_path / "pg-dr.rules.test.yml"
    spec.write_text(json.dumps(tests))
    proc = subprocess.run([promtool, "test", "rules", str(spec)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("outcome", ["ok", "failed"])
def test_the_metrics_file_is_valid_exposition_format(tmp_path: Path, outcome: str) -> None:
    promtool = require_tool("promtool", "prometheus")
    files = _files(_drill_stack(tmp_path, "systemd"), tmp_path)
    report = tmp_path / ".local" / "bin" / "pg-dr-report"
    report.parent.mkdir(parents=True)
    report.write_text(files["pg-dr-report"])
    report.chmod(0o700)
    env = {"HOME": str(tmp_path)}
    assert subprocess.run([str(report), "backup-ok"], env=env).returncode == 0
    assert subprocess.run([str(report), "metric", "pgdr_backup_uncovered_databases", "", "2"], env=env).returncode == 0
    _wrapper(tmp_path, files)
    if outcome == "ok":
        _fake_drill(tmp_path)
    subprocess.run([str(tmp_path / ".local" / "bin" / "pg-dr-drill-scheduled")], env=env, capture_output=True)
    text = (tmp_path / "textfile" / "pg-dr.prom").read_text()
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert proc.returncode == 0, text + proc.stdout + proc.stderr
    assert "pgdr_backup_uncovered_databases 2" in text.splitlines()
    assert f"pgdr_drill_last_ok {1 if outcome == 'ok' else 0}" in text.splitlines()
    assert sorted(p.name for p in (tmp_path / "textfile").iterdir()) == ["pg-dr.prom"]  # no temp file left


def test_the_scheduled_drill_reports_a_database_that_is_not_backed_up(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """A new app's database on a backed-up server: the drill still passes, but says so and counts it."""
    pg = postgres_server
    pg.create_role("borgmatic", password="pw", login=True, in_roles=["pg_read_all_data"])
    pg.create_database("miniflux")
    pg.create_database("newapp")
    with pg.passfile("borgmatic", "pw") as passfile:
        (tmp_path / ".pgpass").write_text(Path(passfile).read_text())
    (tmp_path / ".pgpass").chmod(0o600)
    with PingServer() as hc:
        config = _drill_stack(tmp_path, "systemd", {"healthchecks": {"pingUrl": hc.url("/ping/drill")}})
        backup = config["pg-dr:backup"]
        backup["pgBinDir"] = str(pg_bin_dir())
        backup["databases"] = [{"name": "miniflux", "hostname": "127.0.0.1", "port": pg.port, "username": "borgmatic"}]
        config["pg-dr:drill"]["sourceHostname"] = "127.0.0.1"
        files = _files(config, tmp_path)
        _fake_drill(tmp_path)
        _wrapper(tmp_path, files)
        env = {"HOME": str(tmp_path)}
        proc = subprocess.run(
            [str(tmp_path / ".local" / "bin" / "pg-dr-drill-scheduled")], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        notice = f"1 database(s) not backed up (not in pg-dr:backup.databases): 127.0.0.1:{pg.port}/newapp\n"
        assert notice in proc.stderr
        (success,) = [p for p in hc.requests if p.path == "/ping/drill"]
        assert notice in success.body
    assert "pgdr_backup_uncovered_databases 1" in (tmp_path / "textfile" / "pg-dr.prom").read_text().splitlines()


@pytest.mark.parametrize("every", ["1h", "6h"])
def test_the_frequent_config_and_units_pass_borgmatic_and_systemd(tmp_path: Path, every: str) -> None:
    require_tool("systemd-analyze", "systemd")
    config = _drill_stack(tmp_path, "systemd")
    config["pg-dr:backup"]["databases"][0]["every"] = every
    files = _files(config, tmp_path)
    frequent = tmp_path / "frequent.yaml"
    frequent.write_text(files["borgmatic-frequent.yaml"])
    proc = subprocess.run([BORGMATIC, "config", "validate", "-c", str(frequent)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    units = []
    for name in ("io.pg-dr.borgmatic.frequent.service", "io.pg-dr.borgmatic.frequent.timer"):
        units.append(tmp_path / name)
        units[-1].write_text(files[name])
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calendar = next(
        line for line in files["io.pg-dr.borgmatic.frequent.timer"].splitlines() if line.startswith("OnCalendar=")
    )
    proc = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", calendar.split("=", 1)[1]], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    hours = int(every.removesuffix("h"))
    times = [line.split()[-2] for line in proc.stdout.splitlines() if "Next elapse" in line or "Iter." in line]
    gaps = {(int(b[:2]) - int(a[:2])) % 24 for a, b in itertools.pairwise(times)}
    assert gaps == {hours} and all(t.endswith(":45:00") for t in times), proc.stdout
