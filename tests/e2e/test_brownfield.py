"""Brownfield, end to end with real borg, borgmatic, PostgreSQL and sshd: a backup host that already backs up.

The host has what indri has: a file-backup borgmatic config written by another tool (the Ansible role) in
``~/.config/borgmatic/config.yaml``, its own archives in an append-only repository, and a LaunchAgent that
runs ``borgmatic`` nightly. pg-dr's registered commands run over sshd as pulumi-command would (``Engine``):

* pointed at the role's file, pg-dr refuses before anything is written (the host check), and says what to do;
* by default it writes its own ``~/.config/borgmatic.d/pg-dr.yaml``; the host's agent (no ``--config``) is
  its schedule. One scheduled run of that agent's command puts every source file and every database
  dump in the repository;
* with tiny retention, a prune of either config keeps every archive of the other.
"""

from __future__ import annotations

import json
import plistlib
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from components.remote.shell import sh_command
from tests.support.backup_host import BORG, BORGMATIC, host_stack, init_repository, remote_commands, secrets_env
from tests.support.postgres import PostgresServer, pg_bin_dir
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

PASSWORD = "b0rg:mat\\ic pass"
AGENT = "com.example.borgmatic"
SOURCES = {  # the role's files: notes, the git server's data, documents
    "notes/index.md": "# notes\n",
    "notes/2026/plan.md": "phase 3\n",
    "forgejo/repos/pg-dr.git/HEAD": "ref: refs/heads/main\n",
    "documents/taxes.txt": "42\n",
}


def _role_config(server: SshServer, repo: str, passcommand: str, **retention: int) -> Path:
    """What the Ansible role writes: files only, its own (default) archive names, the same repository."""
    home = server.home
    doc = {
        "local_path": BORG,
        "source_directories": [str(home / "notes"), str(home / "forgejo"), str(home / "documents")],
        "source_directories_must_exist": True,
        "exclude_patterns": ["*.tmp"],
        "repositories": [{"path": repo, "label": "sifaka-borg-backups"}],
        "encryption_passcommand": passcommand,
        **(retention or {"keep_daily": 7}),
    }
    path = home / ".config" / "borgmatic" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Managed by ansible\n" + yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def _host(server: SshServer, factory: Callable[..., PostgresServer]) -> tuple[PostgresServer, str, str, Path]:
    pg = factory(name="brew")
    pg.create_role("borgmatic", password=PASSWORD, login=True, in_roles=["pg_read_all_data"])
    pg.create_database("miniflux")
    pg.sql("CREATE TABLE feeds (id int PRIMARY KEY); INSERT INTO feeds VALUES (1), (2);", db="miniflux")
    for rel, text in SOURCES.items():
        path = server.home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (server.home / "notes" / "scratch.tmp").write_text("excluded\n")
    repo, passcommand = init_repository(server)
    # the role's repository is append-only (runbook): pg-dr changes neither that nor its encryption
    proc = server.as_user([BORG, "config", repo, "append_only", "1"], env={"BORG_PASSCOMMAND": passcommand})
    assert proc.returncode == 0, proc.stderr
    role = _role_config(server, repo, passcommand)
    agent = server.home / "Library" / "LaunchAgents" / f"{AGENT}.plist"
    agent.parent.mkdir(parents=True)
    agent.write_bytes(plistlib.dumps({"Label": AGENT, "ProgramArguments": [BORGMATIC, "--verbosity", "1"]}))
    return pg, repo, passcommand, role


def _stack(server: SshServer, pg: PostgresServer, repo: str, passcommand: str, **backup) -> dict:
    backup.setdefault("schedule", {"kind": "existing", "existingLabel": AGENT})
    database = {
        "name": "miniflux",
        "hostname": "localhost",
        "port": pg.port,
        "username": "borgmatic",
        "password": "env:PW",
    }
    return host_stack(
        server,
        [database],
        repository=repo,
        passcommand=passcommand,
        verify=True,
        **backup,
    )


def _commands(server: SshServer, config: dict) -> dict:
    render = render_config(config, resolve_secrets=True, environ=secrets_env(server, {"PW": PASSWORD}))
    return remote_commands(render)


def _borgmatic(server: SshServer, *args: str) -> str:
    """borgmatic as the host's user, with the bare environment a LaunchAgent gives it (HOME set)."""
    argv = " ".join(shlex.quote(a) for a in (BORGMATIC, *args))
    proc = server.run(sh_command(f"env -i HOME={shlex.quote(str(server.home))} PATH=/usr/bin:/bin {argv}"))
    assert proc.returncode == 0, f"borgmatic {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    assert PASSWORD not in proc.stdout + proc.stderr
    return proc.stdout


def _archives(server: SshServer, repo: str, passcommand: str) -> list[str]:
    proc = server.as_user([BORG, "list", "--short", repo], env={"BORG_PASSCOMMAND": passcommand})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def _paths(server: SshServer, repo: str, passcommand: str, archive: str) -> set[str]:
    proc = server.as_user([BORG, "list", "--json-lines", f"{repo}::{archive}"], env={"BORG_PASSCOMMAND": passcommand})
    assert proc.returncode == 0, proc.stderr
    return {json.loads(line)["path"] for line in proc.stdout.splitlines()}


def test_pointed_at_the_roles_config_pg_dr_refuses_before_writing_anything(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    server = root_sshd
    pg, repo, passcommand, role = _host(server, postgres_factory)
    before = role.read_bytes()
    config = _stack(server, pg, repo, passcommand, configPath=str(role), schedule={"kind": "none"})
    steps = Engine(server).apply(_commands(server, config))
    assert [(s.name, s.op, s.ok) for s in steps] == [
        ("borgmatic-preflight", "create", True),
        ("borgmatic-host-check", "create", False),
    ]
    assert f"pg-dr:backup.configPath: {role} exists and was not written by pg-dr" in steps[1].proc.stderr
    assert "pg-dr:backup.adoptExisting: true" in steps[1].proc.stderr
    assert role.read_bytes() == before and sorted(p.name for p in role.parent.iterdir()) == ["config.yaml"]
    assert not (server.home / ".pgpass").exists()

    # told to adopt it, pg-dr keeps a copy first, then takes the file over
    adopting = _stack(
        server, pg, repo, passcommand, configPath=str(role), schedule={"kind": "none"}, adoptExisting=True
    )
    adopting["pg-dr:backup"]["verify"] = False
    steps = Engine(server).apply(_commands(server, adopting))
    assert all(s.ok for s in steps), [(s.name, s.proc.stderr if s.proc else "") for s in steps]
    (copy,) = role.parent.glob("config.yaml.pg-dr-adopted-*")
    assert copy.read_bytes() == before
    assert role.read_text().startswith("# Managed by pg-dr")


def test_one_scheduled_run_backs_up_every_file_and_dump_and_each_prune_keeps_the_others_archives(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    server = root_sshd
    pg, repo, passcommand, role = _host(server, postgres_factory)
    role_text = role.read_bytes()
    _borgmatic(server, "-c", str(role), "create")  # the role's archives from before pg-dr
    _borgmatic(server, "-c", str(role), "create")
    role_archives = _archives(server, repo, passcommand)
    assert len(role_archives) == 2 and not any(a.startswith("pg-dr-") for a in role_archives)

    # pg-dr's deliveries (and its verification's backup), by default beside the role's config
    engine = Engine(server)
    steps = engine.apply(_commands(server, _stack(server, pg, repo, passcommand)))
    for step in steps:
        assert step.ok, f"{step.name} {step.op}:\n{step.proc.stdout}\n{step.proc.stderr}"
    assert [s.name for s in steps] == [
        "borgmatic-preflight",
        "borgmatic-host-check",
        "borgmatic-config",
        "borgmatic-pgpass",
        "borgmatic-verify",
        "restore-command",
    ]
    assert f"{AGENT} (" in steps[1].proc.stdout and "pg-dr adds no agent" in steps[1].proc.stdout
    # the host check read the repository's archive names (the role's are <host>-<time>: not pg-dr's)
    assert "were not checked" not in steps[1].proc.stdout, steps[1].proc.stdout
    ours = server.home / ".config" / "borgmatic.d" / "pg-dr.yaml"
    assert ours.exists() and role.read_bytes() == role_text  # the role's file: not a byte changed
    assert not (server.home / "Library" / "LaunchAgents" / "io.pg-dr.borgmatic.plist").exists()

    # one scheduled run: the host's agent, exactly as its plist says (borgmatic without --config)
    agent = plistlib.loads((server.home / "Library" / "LaunchAgents" / f"{AGENT}.plist").read_bytes())
    _borgmatic(server, *agent["ProgramArguments"][1:])
    archives = _archives(server, repo, passcommand)
    role_latest = [a for a in archives if not a.startswith("pg-dr-")][-1]
    ours_latest = [a for a in archives if a.startswith("pg-dr-")][-1]
    # borgmatic prunes before it creates: the scheduled run made one archive of each config
    assert archives[-2:] == sorted(archives[-2:], key=lambda a: a.startswith("pg-dr-")) or len(archives) >= 4
    files = _paths(server, repo, passcommand, role_latest)
    for rel in SOURCES:
        assert str(server.home / rel).lstrip("/") in files, rel
    assert not any(p.endswith("scratch.tmp") for p in files)  # the role's exclude_patterns still apply
    dumps = _paths(server, repo, passcommand, ours_latest)
    assert any(p.endswith(f"borgmatic/postgresql_databases/localhost:{pg.port}/miniflux") for p in dumps), dumps

    # tiny retention on both sides: each prune removes only its own older archives
    _role_config(server, repo, passcommand, keep_secondly=1)
    small = _stack(server, pg, repo, passcommand, retention={"keepDaily": 1, "keepMonthly": None, "keepYearly": None})
    steps = engine.apply(_commands(server, {**small, "pg-dr:backup": {**small["pg-dr:backup"], "verify": False}}))
    assert all(s.ok for s in steps), [(s.name, s.proc.stderr if s.proc else "") for s in steps]
    _borgmatic(server, "-c", str(role), "create")
    _borgmatic(server, "-c", str(ours), "create")
    before = _archives(server, repo, passcommand)
    theirs = [a for a in before if not a.startswith("pg-dr-")]
    mine = [a for a in before if a.startswith("pg-dr-")]
    assert len(theirs) >= 2 and len(mine) >= 2, before

    _borgmatic(server, "-c", str(role), "prune")
    after_role_prune = _archives(server, repo, passcommand)
    assert [a for a in after_role_prune if not a.startswith("pg-dr-")] == theirs[-1:]
    assert [a for a in after_role_prune if a.startswith("pg-dr-")] == mine  # pg-dr's all kept

    _borgmatic(server, "-c", str(ours), "prune")
    after_our_prune = _archives(server, repo, passcommand)
    assert [a for a in after_our_prune if a.startswith("pg-dr-")] == mine[-1:]
    assert [a for a in after_our_prune if not a.startswith("pg-dr-")] == theirs[-1:]  # the role's kept
    # the repository stays append-only: pg-dr never changed its settings
    proc = server.as_user([BORG, "config", repo, "append_only"], env={"BORG_PASSCOMMAND": passcommand})
    assert proc.stdout.strip() == "1"


def _cluster_stack(server: SshServer, pg: PostgresServer, repo: str, passcommand: str, **backup) -> dict:
    """The database as CNPG serves it (``cluster: true``): the role comes from the Cluster's managed roles."""
    config = _stack(server, pg, repo, passcommand, schedule={"kind": "none"}, **backup)
    config["pg-dr:backup"]["databases"][0]["cluster"] = True
    config["pg-dr:cluster"] = {
        "name": "blumeops-pg",
        "namespace": "databases",
        "roles": [{"name": "borgmatic", "login": True, "inRoles": ["pg_read_all_data"], "password": "env:PW"}],
    }
    return config


def test_the_verification_waits_for_cnpg_to_apply_the_role_and_gives_up_bounded(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    server = root_sshd
    pg = postgres_factory(name="k8s")
    pg.create_database("miniflux")
    repo, passcommand = init_repository(server)

    # CNPG never applies the role: the wait gives up after loginWaitSeconds, naming the database; no backup
    steps = Engine(server).apply(_commands(server, _cluster_stack(server, pg, repo, passcommand, loginWaitSeconds=2)))
    assert [(s.name, s.ok) for s in steps][-1] == ("borgmatic-login-wait", False)
    assert "pg-dr:backup.databases[0]: borgmatic@localhost" in steps[-1].proc.stderr
    assert "still cannot log in after 2s" in steps[-1].proc.stderr and PASSWORD not in steps[-1].proc.stderr

    # CNPG applies it a few seconds after the apply returned: the wait sees it, the verification passes
    timer = threading.Timer(
        4, lambda: pg.create_role("borgmatic", password=PASSWORD, login=True, in_roles=["pg_read_all_data"])
    )
    timer.start()
    try:
        steps = Engine(server).apply(_commands(server, _cluster_stack(server, pg, repo, passcommand)))
    finally:
        timer.join()
    for step in steps:
        assert step.ok, f"{step.name} {step.op}:\n{step.proc.stdout}\n{step.proc.stderr}"
    assert [s.name for s in steps][-3:] == ["borgmatic-login-wait", "borgmatic-verify", "restore-command"]
    assert f"borgmatic@localhost:{pg.port}/miniflux logs in" in steps[-3].proc.stdout


def _slow_borg(server: SshServer) -> Path:
    """A borg whose ``create`` starts 4 s late: the window in which borgmatic's dump (a named pipe in its
    runtime directory) exists but borg has not opened it yet."""
    path = server.home / "slow-borg"
    path.write_text(f'#!/bin/sh\ncase " $* " in *" create "*) sleep 4 ;; esac\nexec {shlex.quote(BORG)} "$@"\n')
    path.chmod(0o755)
    return path


def _overlapping_runs(server: SshServer, postgres_factory: Callable[..., PostgresServer], **backup) -> set[str]:
    """pg-dr's backup runs while the role's config (with a database, as at phase 3; to another repository)
    runs from start to end; the paths of pg-dr's archive."""
    pg, repo, passcommand, role = _host(server, postgres_factory)
    text = yaml.safe_load(role.read_text())
    dump = str(pg_bin_dir() / "pg_dump")
    text["postgresql_databases"] = [
        {"name": "miniflux", "hostname": "localhost", "port": pg.port, "username": "borgmatic", "pg_dump_command": dump}
    ]
    # the role's other repository (indri's role also writes offsite): its run completes while pg-dr's runs
    other, _ = init_repository(server, str(server.home / "backups" / "offsite"))
    text["repositories"] = [{"path": other, "label": "offsite"}]
    role.write_text(yaml.safe_dump(text))
    config = _stack(
        server, pg, repo, passcommand, schedule={"kind": "none"}, borgPath=str(_slow_borg(server)), **backup
    )
    config["pg-dr:backup"]["verify"] = False
    steps = Engine(server).apply(_commands(server, config))
    assert all(s.ok for s in steps), [(s.name, s.proc.stderr if s.proc else "") for s in steps]
    ours = server.home / ".config" / "borgmatic.d" / "pg-dr.yaml"
    outcome: dict[str, str] = {}
    run = threading.Thread(target=lambda: outcome.update(ours=_borgmatic(server, "-c", str(ours), "create")))
    run.start()
    time.sleep(1.5)
    _borgmatic(server, "-c", str(role), "create")  # starts and ends while pg-dr's borg has not started yet
    run.join()
    (archive,) = [a for a in _archives(server, repo, passcommand) if a.startswith("pg-dr-")]
    return _paths(server, repo, passcommand, archive)


def test_another_configs_run_never_removes_pg_drs_dumps_in_progress(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    """borgmatic removes "leftover" dumps in every borgmatic-* directory of its runtime base when a run
    starts; pg-dr's config has its own base (user_runtime_directory), so the role's run leaves its dump."""
    paths = _overlapping_runs(root_sshd, postgres_factory)
    assert any(p.endswith("/miniflux") and "postgresql_databases/localhost:" in p for p in paths), paths


def test_control_a_shared_runtime_base_loses_the_dump(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    """The same overlap with pg-dr's runtime base set to the role's (/tmp): its archive has no dump."""
    paths = _overlapping_runs(root_sshd, postgres_factory, runtimeDirectory="/tmp")
    assert not any("postgresql_databases" in p and p.endswith("/miniflux") for p in paths), paths
