"""What BorgmaticHost delivers, checked with the real tools: borgmatic config validate, systemd-analyze."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.backup_host import BORGMATIC
from tests.support.render import render_config, render_stack
from tests.support.stacks import stack
from tests.support.tools import require_tool


def _stack_configs() -> dict[str, str]:
    """borgmatic.yaml of the dev and prod stack files and of the test stacks (tests/stacks.py)."""
    rendered = {name: render_stack(name).render_files() for name in ("dev", "prod")}
    rendered["test-base"] = render_config(stack()).render_files()
    labelled = stack()
    labelled["pg-dr:backup"]["databases"][0].update(label="brew", format="directory", restoreJobs=2)
    labelled["pg-dr:backup"]["schedule"] = {"kind": "systemd", "hour": 4}
    rendered["test-labelled"] = render_config(labelled).render_files()
    return {
        name: next(text for path, text in found.items() if path.endswith("/borgmatic.yaml"))
        for name, found in rendered.items()
    }


def test_every_rendered_config_passes_real_borgmatic_validate(tmp_path: Path) -> None:
    configs = _stack_configs()
    assert set(configs) == {"dev", "prod", "test-base", "test-labelled"}
    for name, text in configs.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        proc = subprocess.run([BORGMATIC, "config", "validate", "-c", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
        assert "All configuration files are valid" in proc.stdout
    # and the validator is real: a wrong key fails
    bad = tmp_path / "bad.yaml"
    bad.write_text(configs["prod"].replace("local_path:", "local_pth:"))
    proc = subprocess.run([BORGMATIC, "config", "validate", "-c", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    require_tool("systemd-analyze", "systemd")
    config = stack()
    config["pg-dr:backup"].update(
        borgmaticPath=BORGMATIC, homeDir=str(tmp_path), schedule={"kind": "systemd", "hour": 4, "minute": 5}
    )
    published = render_config(config).render_files()
    units = []
    for path, text in published.items():
        if path.endswith((".service", ".timer")):
            units.append(tmp_path / Path(path).name)
            units[-1].write_text(text)
    assert sorted(u.name for u in units) == ["io.pg-dr.borgmatic.service", "io.pg-dr.borgmatic.timer"]
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and the verifier is real: a bad calendar spec fails
    timer = tmp_path / "io.pg-dr.borgmatic.timer"
    timer.write_text(timer.read_text().replace("OnCalendar=*-*-* 04:05:00", "OnCalendar=not-a-time"))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(timer)], capture_output=True, text=True)
    assert proc.returncode != 0


def test_a_path_with_percent_and_dollar_reaches_systemd_literally(tmp_path: Path) -> None:
    """systemd expands ``%h`` (specifiers) and, on ExecStart, ``$HOME``: the unit must name the literal path."""
    require_tool("systemd-analyze", "systemd")
    odd = tmp_path / "%h" / "$HOME"
    odd.mkdir(parents=True)
    program = odd / "borgmatic"
    shutil.copy(BORGMATIC, program)
    config = stack()
    config["pg-dr:backup"].update(
        borgmaticPath=str(program), homeDir=str(tmp_path), schedule={"kind": "systemd", "hour": 4, "minute": 5}
    )
    published = render_config(config).render_files()
    service = tmp_path / "io.pg-dr.borgmatic.service"
    service.write_text(next(text for path, text in published.items() if path.endswith(".service")))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(service)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
