"""End to end: real PostgreSQL servers, borg, borgmatic and sshd; the registered commands back up both databases.

The runbook's dual backup (the "brew" PostgreSQL and k8s-pg during the migration) with a read-only
``borgmatic`` role whose password holds ``:``, ``\\`` and spaces: the delivered ``~/.pgpass`` is what
libpq (psql, pg_dump via borgmatic) authenticates with, and the verification finds both dumps in the
latest archive. The SSH user is a uid-0 alias with its own temp home (``SshServer(as_root=True)``), so
it can run this project's borgmatic.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from components.borgmatic.scripts import parse_dumps
from components.remote.shell import sh_command
from tests.support.backup_host import host_stack, init_repository, remote_commands, secrets_env
from tests.support.postgres import PostgresServer, pg_bin_dir
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

PASSWORD = "b0rg:mat\\ic pass word"


def _server(factory: Callable[..., PostgresServer], name: str) -> PostgresServer:
    pg = factory(name=name)
    pg.create_role("borgmatic", password=PASSWORD, login=True, in_roles=["pg_read_all_data"])
    pg.create_database("miniflux")
    pg.sql(
        "CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users VALUES (1, 'a'), (2, 'b');",
        db="miniflux",
    )
    return pg


def _stack(server: SshServer, brew: PostgresServer, k8s: PostgresServer, *, databases: int = 2) -> dict:
    entries = [
        # brew PostgreSQL: reached as localhost (runbook), labelled so its dump path reads like the runbook's
        {"name": "miniflux", "hostname": "localhost", "port": brew.port, "username": "borgmatic",
         "password": "env:PW", "label": "brew"},
        # k8s-pg stand-in: unlabelled, so its dump is stored under hostname:port
        {"name": "miniflux", "hostname": "127.0.0.1", "port": k8s.port, "username": "borgmatic",
         "password": "env:PW"},
    ][:databases]  # fmt: skip
    return host_stack(server, entries, verify=True)


def _apply(engine: Engine, server: SshServer, config: dict) -> dict:
    render = render_config(config, resolve_secrets=True, environ=secrets_env(server, {"PW": PASSWORD}))
    commands = remote_commands(render)
    steps = engine.apply(commands)
    for step in steps:
        assert step.ok, f"{step.name} {step.op}:\n{step.proc.stdout}\n{step.proc.stderr}"
    return {step.name: step for step in steps}


def _servers(
    server: SshServer, factory: Callable[..., PostgresServer]
) -> tuple[SshServer, PostgresServer, PostgresServer, Engine]:
    """The backup host (with an initialised repository), the brew and k8s-pg servers, and the engine."""
    brew, k8s = _server(factory, "brew"), _server(factory, "k8s")
    init_repository(server)
    return server, brew, k8s, Engine(server)


def test_dual_backup_with_pgpass_authentication_and_verified_dumps(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    server, brew, k8s, engine = _servers(root_sshd, postgres_factory)
    steps = _apply(engine, server, _stack(server, brew, k8s))
    assert list(steps) == [
        "borgmatic-preflight",
        "borgmatic-host-check",
        "borgmatic-config",
        "borgmatic-pgpass",
        "borgmatic-verify",
        "restore-command",  # pg-dr-restore, delivered beside the backup
    ]
    verify = steps["borgmatic-verify"].proc
    assert "All configuration files are valid" in verify.stdout
    dumps = parse_dumps(verify.stdout)
    assert len(dumps) == 2
    assert dumps[0].startswith("local ") and dumps[0].endswith("borgmatic/postgresql_databases/brew/miniflux")
    assert dumps[1].endswith(f"borgmatic/postgresql_databases/127.0.0.1:{k8s.port}/miniflux")

    # libpq itself: psql with no password prompt (-w) authenticates through the delivered ~/.pgpass
    psql = shlex.quote(str(pg_bin_dir() / "psql"))
    query = f"{psql} -X -w -At -h localhost -p {brew.port} -U borgmatic -d miniflux -c 'SELECT count(*) FROM users'"
    proc = server.run(sh_command(query))
    assert (proc.returncode, proc.stdout.strip()) == (0, "2"), proc.stderr
    # ... and only because the file is 0600: libpq ignores a group/world-readable pgpass
    (server.home / ".pgpass").chmod(0o640)
    proc = server.run(sh_command(query))
    assert proc.returncode != 0 and "has group or world access" in proc.stderr
    (server.home / ".pgpass").chmod(0o600)


def test_verify_names_a_database_missing_from_the_archive(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    """The host's config backs up one database; the verification of a two-database stack names the other."""
    server, brew, k8s, engine = _servers(root_sshd, postgres_factory)
    _apply(engine, server, _stack(server, brew, k8s, databases=1))
    both = render_config(_stack(server, brew, k8s), resolve_secrets=True, environ=secrets_env(server, {"PW": PASSWORD}))
    verify = remote_commands(both)["borgmatic-verify"]
    # deliver nothing new: run the two-database verification against the one-database config on the host
    proc = server.run_registered(verify, "create")
    assert proc.returncode == 1
    assert f"miniflux@127.0.0.1:{k8s.port}: no borgmatic/postgresql_databases/127.0.0.1:{k8s.port}/miniflux" in (
        proc.stderr
    )
    assert "miniflux@localhost" not in proc.stderr  # the brew dump is there
    assert PASSWORD not in proc.stdout + proc.stderr
