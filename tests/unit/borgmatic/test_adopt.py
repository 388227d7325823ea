"""The host check (components/borgmatic/adopt.py): run with /bin/sh against a temporary home directory.

The sshd end-to-end tests (tests/e2e/test_brownfield.py) prove the same script gates every delivery.
"""

from __future__ import annotations

import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest

from components.borgmatic import adopt
from components.borgmatic import plan as files
from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from tests.support.stacks import BASE, raw_sections
from tests.support.tools import require_borg

# the host check under every shell standing for macOS sh here (see tests/fault/harness.py, docs/macos.md)
SHELLS = [argv for argv in (["dash"], ["posh"], ["bash", "--posix"]) if shutil.which(argv[0])]
_shell = {"argv": ["/bin/sh"]}


@pytest.fixture(autouse=True, params=SHELLS, ids=lambda argv: argv[0])
def _each_shell(request: pytest.FixtureRequest) -> None:
    _shell["argv"] = request.param


ROLE_CONFIG = "# Managed by ansible\nsource_directories:\n  - /Users/me/Documents\n"


def _backup(home: Path, **changes):
    raw = raw_sections(BASE)
    raw["backup"].update(homeDir=str(home), **changes)
    return parse_stack_config(raw).backup


def _run(home: Path, **changes) -> subprocess.CompletedProcess[str]:
    cfg = _backup(home, **changes)
    text = adopt.host_check(cfg, files.plan_backup(cfg))
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([*_shell["argv"], "-c", text], capture_output=True, text=True, env=env, check=False)


def _agent(home: Path, label: str, argv: list[str]) -> Path:
    path = home / "Library" / "LaunchAgents" / f"{label}.plist"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"Label": label, "ProgramArguments": argv, "StartCalendarInterval": {"Hour": 2, "Minute": 0}}
    path.write_bytes(plistlib.dumps(doc))
    return path


def test_a_fresh_host_passes_and_nothing_is_written(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("pg-dr host check: ok")
    assert list(tmp_path.rglob("*")) == []


def test_a_config_pg_dr_did_not_write_is_refused_with_what_to_do(tmp_path: Path) -> None:
    role = tmp_path / ".config" / "borgmatic" / "config.yaml"
    role.parent.mkdir(parents=True)
    role.write_text(ROLE_CONFIG)
    proc = _run(tmp_path, configPath=str(role))
    assert proc.returncode == 1
    assert f"pg-dr:backup.configPath: {role} exists and was not written by pg-dr" in proc.stderr
    assert "set pg-dr:backup.adoptExisting: true to take it over" in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert role.read_text() == ROLE_CONFIG and len(list(role.parent.iterdir())) == 1


def test_the_default_path_leaves_the_roles_config_alone(tmp_path: Path) -> None:
    role = tmp_path / ".config" / "borgmatic" / "config.yaml"
    role.parent.mkdir(parents=True)
    role.write_text(ROLE_CONFIG)
    cfg = _backup(tmp_path)
    assert cfg.resolved_config_path == f"{tmp_path}/.config/borgmatic.d/pg-dr.yaml"
    assert _run(tmp_path).returncode == 0


def test_adopt_existing_keeps_a_copy(tmp_path: Path) -> None:
    target = tmp_path / ".config" / "borgmatic.d" / "pg-dr.yaml"
    target.parent.mkdir(parents=True)
    target.write_text("hand-written\n")
    proc = _run(tmp_path, adoptExisting=True)
    assert proc.returncode == 0, proc.stderr
    (copy,) = target.parent.glob("pg-dr.yaml.pg-dr-adopted-*")
    assert copy.read_text() == "hand-written\n" and "adopted (pg-dr:backup.adoptExisting)" in proc.stdout


def test_a_file_pg_dr_wrote_passes(tmp_path: Path) -> None:
    cfg = _backup(tmp_path)
    target = Path(cfg.resolved_config_path)
    target.parent.mkdir(parents=True)
    target.write_text(files.borgmatic_config(cfg))
    plist = tmp_path / "Library" / "LaunchAgents" / "io.pg-dr.borgmatic.plist"
    plist.parent.mkdir(parents=True)
    plist.write_text(files.schedule_files(cfg)[0].text)
    assert _run(tmp_path).returncode == 0


def test_a_foreign_schedule_file_at_pg_drs_label_is_refused(tmp_path: Path) -> None:
    plist = _agent(tmp_path, "io.pg-dr.borgmatic", ["/usr/bin/true"])
    proc = _run(tmp_path)
    assert proc.returncode == 1
    assert f"pg-dr:backup.schedule.label: {plist} exists and was not written by pg-dr" in proc.stderr


def test_an_agent_running_every_config_refuses_a_second_agent(tmp_path: Path) -> None:
    _agent(tmp_path, "com.example.borgmatic", ["/opt/homebrew/bin/borgmatic", "--verbosity", "1"])
    proc = _run(tmp_path)
    assert proc.returncode == 1
    assert "com.example.borgmatic" in proc.stderr and "already runs borgmatic without --config" in proc.stderr
    assert "Set pg-dr:backup.schedule.kind: existing with existingLabel: com.example.borgmatic" in proc.stderr
    # the same agent behind a login shell (zsh -lc "borgmatic ..."): the shell's -c is not borgmatic's
    _agent(tmp_path, "com.example.borgmatic", ["/bin/zsh", "-lc", "borgmatic --verbosity 1"])
    assert "already runs borgmatic without --config" in _run(tmp_path).stderr
    # riding along on it: pg-dr adds no agent
    existing = {"kind": "existing", "existingLabel": "com.example.borgmatic"}
    proc = _run(tmp_path, schedule=existing)
    assert proc.returncode == 0, proc.stderr
    assert "runs borgmatic without --config: it runs" in proc.stdout
    assert files.schedule_files(_backup(tmp_path, schedule=existing)) == []


def test_an_agent_with_its_own_config_coexists_with_pg_drs(tmp_path: Path) -> None:
    role = ["/opt/homebrew/bin/borgmatic", "--config", "/Users/me/.config/borgmatic/config.yaml", "create"]
    _agent(tmp_path, "mcquack.eblume.borgmatic", role)
    proc = _run(tmp_path, schedule={"kind": "launchd", "existingLabel": "mcquack.eblume.borgmatic"})
    assert proc.returncode == 0, proc.stderr
    assert "runs its own --config; pg-dr's agent io.pg-dr.borgmatic runs only" in proc.stdout
    # but it cannot carry pg-dr's config
    proc = _run(tmp_path, schedule={"kind": "existing", "existingLabel": "mcquack.eblume.borgmatic"})
    assert proc.returncode == 1
    assert "runs borgmatic with -c/--config, so it never runs" in proc.stderr
    # a named agent that is not there is not silently ignored
    proc = _run(tmp_path, schedule={"kind": "existing", "existingLabel": "com.example.gone"})
    assert proc.returncode == 1 and "no launchd agent com.example.gone" in proc.stderr


def test_a_systemd_service_running_every_config_is_found(tmp_path: Path) -> None:
    unit = tmp_path / ".config" / "systemd" / "user" / "borgmatic.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/borgmatic --stats\n")
    schedule = {"kind": "systemd"}
    assert "already runs borgmatic without --config" in _run(tmp_path, schedule=schedule).stderr
    existing = {"kind": "existing", "existingKind": "systemd", "existingLabel": "borgmatic"}
    assert _run(tmp_path, schedule=existing).returncode == 0


def test_a_config_outside_borgmatics_directories_is_never_run_by_a_bare_agent(tmp_path: Path) -> None:
    _agent(tmp_path, "com.example.borgmatic", ["/opt/homebrew/bin/borgmatic"])
    assert _run(tmp_path, configPath=f"{tmp_path}/pg-dr/borgmatic.yaml").returncode == 0
    with pytest.raises(ConfigError, match=r"pg-dr:backup.configPath: with schedule.kind existing"):
        _backup(
            tmp_path,
            configPath=f"{tmp_path}/pg-dr/borgmatic.yaml",
            schedule={"kind": "existing", "existingLabel": "com.example.borgmatic"},
        )


def test_schedule_key_errors() -> None:
    with pytest.raises(ConfigError, match=r"pg-dr:backup.schedule.existingLabel: required with kind existing"):
        _backup(Path("/Users/x"), schedule={"kind": "existing"})
    with pytest.raises(ConfigError, match=r"pg-dr:backup.schedule.existingLabel: is pg-dr's own label"):
        _backup(Path("/Users/x"), schedule={"existingLabel": "io.pg-dr.borgmatic"})


def test_riding_along_needs_the_default_pgpass() -> None:
    existing = {"kind": "existing", "existingLabel": "com.example.borgmatic"}
    with pytest.raises(ConfigError, match=r"pg-dr:backup.pgpassPath: with schedule.kind existing"):
        _backup(Path("/Users/x"), schedule=existing, pgpassPath="/Users/x/.config/pg-dr/pgpass")
    assert _backup(Path("/Users/x"), schedule=existing).resolved_pgpass_path == "/Users/x/.pgpass"


# ------------------------------------------------------------------------------------------ archive names
def _run_on(home: Path, node: str, **changes) -> subprocess.CompletedProcess[str]:
    """The host check on a host whose node name is ``node`` (a ``uname`` stand-in first on PATH)."""
    bin_dir = home.parent / f"{home.name}-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "uname").write_text(f"#!/bin/sh\nprintf '%s\\n' {node!r}\n")
    (bin_dir / "uname").chmod(0o755)
    cfg = _backup(home, **changes)
    text = adopt.host_check(cfg, files.plan_backup(cfg))
    env = {"HOME": str(home), "PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run([*_shell["argv"], "-c", text], capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize(
    ("node", "key"),
    [
        ("pg.local", "pg-dr:backup.archiveNameFormat"),  # the other config's sh:pg-* matches pg-dr-...
        ("pg-dr", "pg-dr:backup.matchArchives"),  # pg-dr's sh:pg-dr-* matches pg-dr-<time>
        ("pg-dr-nas.example.org", "pg-dr:backup.matchArchives"),
    ],
)
def test_a_host_whose_default_archive_names_overlap_pg_dr_s_is_refused(tmp_path: Path, node: str, key: str) -> None:
    proc = _run_on(tmp_path, node)
    assert proc.returncode == 1, proc.stdout
    assert f"pg-dr host check: {key}: " in proc.stderr
    assert _run_on(tmp_path, "indri.local").returncode == 0
    # a longer prefix sets a host pg-dr-nas apart again (never a host pg-dr: its sh:pg-dr-* matches them all)
    longer = {"archiveNameFormat": "pg-dr-db-{hostname}-{now}"}
    assert _run_on(tmp_path, "pg-dr-nas", **longer).returncode == 0
    assert _run_on(tmp_path, "pg-dr", **longer).returncode == 1


def test_archives_another_writer_named_with_pg_dr_s_prefix_are_refused(tmp_path: Path) -> None:
    """Real borg: a repository already holding an archive ``sh:pg-dr-*`` matches but pg-dr's format cannot
    produce is another writer's: pg-dr's prune would delete it."""
    require_borg()
    repo, source = tmp_path / "repo", tmp_path / "src"
    source.mkdir()
    (source / "f").write_text("x\n")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes"}
    for argv in (["init", "-e", "none", str(repo)], ["create", f"{repo}::vm-2026-01-01T00:00:00", str(source)]):
        subprocess.run(["/usr/bin/borg", *argv], env=env, check=True, capture_output=True)
    keys = {"borgPath": "/usr/bin/borg", "repositories": [{"path": str(repo), "label": "r"}]}
    clean = _run_on(tmp_path, "indri", **keys)
    assert clean.returncode == 0, clean.stderr
    assert "were not checked" not in clean.stdout
    subprocess.run(["/usr/bin/borg", "create", f"{repo}::pg-dr-notes", str(source)], env=env, check=True)
    proc = _run_on(tmp_path, "indri", **keys)
    assert proc.returncode == 1
    assert f"pg-dr:backup.matchArchives: repository {repo} holds archives that sh:pg-dr-* matches" in proc.stderr
    assert "pg-dr-notes" in proc.stderr
    # pg-dr's own names are not another writer's
    subprocess.run(["/usr/bin/borg", "delete", f"{repo}::pg-dr-notes"], env=env, check=True)
    subprocess.run(["/usr/bin/borg", "create", f"{repo}::pg-dr-indri-2026-01-01T00:00:00.000001", str(source)],
                   env=env, check=True)  # fmt: skip
    assert _run_on(tmp_path, "indri", **keys).returncode == 0


def test_a_repository_the_host_check_cannot_read_is_noted_not_refused(tmp_path: Path) -> None:
    keys = {"borgPath": "/usr/bin/borg", "repositories": [{"path": str(tmp_path / "absent"), "label": "r"}]}
    proc = _run_on(tmp_path, "indri", **keys)
    assert proc.returncode == 0, proc.stderr
    assert f"note: the archives of {tmp_path / 'absent'} were not checked (borg list failed" in proc.stdout
