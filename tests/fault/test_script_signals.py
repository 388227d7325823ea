"""The drill's and the verification's scripts, signalled mid-way (a dropped connection: HUP, a closed stdout:
PIPE, a supervisor: TERM), still drop the drill's scratch database and remove their temp dirs. borg, psql,
pg_restore and borgmatic are stand-ins that log what they run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from components.drill.plan import DrillPlan, Endpoint, drill_script
from tests.fault import harness

DUMP = "borgmatic/postgresql_databases/localhost:5432/app"
BORG = """#!/bin/sh
case "$*" in
  *"--last 1"*) echo archive-1 ;;
  *extract*) echo extracting >> {log}; [ -f {hang} ] && sleep 30; echo dump-bytes ;;
  *) echo "- {dump}" ;;
esac
"""
PSQL = """#!/bin/sh
sql=$(cat)
printf '%s\\n' "$sql" >> {log}
case "$sql" in *json_build_object*) echo '{{}}' ;; esac
"""
PG_RESTORE = """#!/bin/sh
cat > /dev/null
"""


@pytest.fixture
def drill(tmp_path: Path) -> tuple[str, Path, Path, Path]:
    """(script, SQL log, TMPDIR, hang flag) for a drill whose tools are stand-ins."""
    bin_dir, tmp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    tmp.mkdir()
    log, hang = tmp_path / "sql.log", tmp_path / "hang"
    for name, text in (("borg", BORG), ("psql", PSQL), ("pg_restore", PG_RESTORE)):
        (bin_dir / name).write_text(
            text.format(log=tmp_path / "borg.log", hang=hang, dump=DUMP) if name == "borg" else text.format(log=log)
        )
        (bin_dir / name).chmod(0o755)
    plan = DrillPlan(
        borg=str(bin_dir / "borg"),
        pg_bin_dir=str(bin_dir),
        repository="/repo",
        archives="pg-dr-*",
        passcommand=None,
        pgpass_path=str(tmp_path / ".pgpass"),
        result_path=str(tmp_path / "state" / "drill.result"),
        dump_path=DUMP,
        dump_format="custom",
        jobs=1,
        target=Endpoint("127.0.0.1", 5432, "drill", "postgres"),
        scratch="app_pgdr_drill",
        source=None,
        expected={},
    )
    return drill_script(plan), log, tmp, hang


def _start(script: str, tmp: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*harness.shell(), "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp)},
        start_new_session=True,
    )


def _dropped(log: Path) -> bool:
    return 'DROP DATABASE IF EXISTS :"scratch";' in log.read_text()


def test_a_hangup_mid_restore_drops_the_scratch_database(drill, tmp_path: Path) -> None:
    script, log, tmp, hang = drill
    hang.touch()
    proc = _start(script, tmp)
    deadline = time.monotonic() + 10
    while not (tmp_path / "borg.log").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGHUP)  # the session's process group, as a dropped terminal would
    proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert "CREATE DATABASE" in log.read_text() and _dropped(log)
    assert list(tmp.iterdir()) == []


def test_a_closed_stdout_drops_the_scratch_database(drill) -> None:
    script, log, tmp, _ = drill
    proc = _start(script, tmp)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"pg-dr drill: restoring ")
    proc.stdout.close()  # the reader went away: the result line meets SIGPIPE
    assert proc.wait(timeout=20) != 0
    assert "CREATE DATABASE" in log.read_text() and _dropped(log)
    assert list(tmp.iterdir()) == []


def test_the_verification_removes_its_temp_dir_on_a_signal(tmp_path: Path) -> None:
    """borgmatic (a stand-in) hangs in ``create``; TERM to the script still removes its temp dir."""
    from components.borgmatic.plan import ExpectedDump
    from components.borgmatic.scripts import verify

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    borgmatic = tmp_path / "borgmatic"
    borgmatic.write_text('#!/bin/sh\ncase "$*" in *create*) echo hung > "$0.hung"; sleep 30 ;; esac\n')
    borgmatic.chmod(0o755)
    script = verify(str(borgmatic), "/cfg.yaml", str(tmp_path), ["local"], [ExpectedDump("app", "x", False)], {})
    proc = _start(script, tmp)
    deadline = time.monotonic() + 10
    while not Path(f"{borgmatic}.hung").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    assert len(list(tmp.iterdir())) == 1  # its work dir
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert list(tmp.iterdir()) == []
