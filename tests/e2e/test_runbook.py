"""The runbook (phase 3), end to end with real tools only: PostgreSQL, borg, borgmatic and sshd.

Two real servers: the "brew" PostgreSQL (miniflux data: 2 users, 2 feeds, 44 entries, with foreign keys)
and a k8s-pg stand-in whose ``borgmatic`` role is created with the SQL CloudNativePG runs for the managed
role (LOGIN, member of ``pg_read_all_data``, password) and whose ``miniflux`` database exists empty, as
CNPG's bootstrap leaves it. The stack's rendered commands run over loopback sshd exactly as pulumi-command
would (``Engine``), and the backup host's borgmatic does the work. Then, as the runbook did:

1. back up the brew database (the BorgmaticHost verification's ``borgmatic create``);
2. restore it into the k8s-pg stand-in with ``borgmatic restore`` (``--original-hostname/--original-port``
   pick the dump, ``--hostname/--port/--username`` the target), as the operator's superuser;
3. compare row counts table by table (2 users, 2 feeds, 44 entries);
4. switch to dual backup: the latest archive lists both dumps (``borgmatic list --archive latest``);
5. remove the brew entry (the rollback / phase 4 change): the next archive lists only k8s-pg.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable

from components.remote.pgpass import pgpass_escape
from components.remote.shell import sh_command
from tests.support import miniflux
from tests.support.backup_host import BORGMATIC, host_stack, init_repository, remote_commands, secrets_env
from tests.support.cnpg_sql import borgmatic_role_sql, managed_role_sql
from tests.support.postgres import PostgresServer
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

BACKUP_PW = "op-borgmatic:db\\password 1"  # the runbook reuses one borgmatic password for both servers
EBLUME_PW = "eblume:super\\user pw"


def _brew(factory: Callable[..., PostgresServer]) -> PostgresServer:
    pg = factory(name="brew")
    miniflux.create_runbook_database(pg)
    pg.create_role("borgmatic", password=BACKUP_PW, login=True, in_roles=["pg_read_all_data"])
    return pg


def _k8s_pg(factory: Callable[..., PostgresServer]) -> PostgresServer:
    pg = factory(name="k8s-pg")
    # CNPG bootstrap: the app owner and its empty database; managed roles: borgmatic and the eblume superuser
    pg.create_role("miniflux", login=True)
    pg.create_database("miniflux", owner="miniflux")
    pg.sql(borgmatic_role_sql(BACKUP_PW))
    pg.sql(managed_role_sql("eblume", password=EBLUME_PW, login=True, superuser=True))
    return pg


def _entry(pg: PostgresServer, hostname: str) -> dict:
    return {"name": "miniflux", "hostname": hostname, "port": pg.port, "username": "borgmatic", "password": "env:PW"}


def _apply(engine: Engine, server: SshServer, databases: list[dict]) -> dict:
    config = host_stack(server, databases, verify=True)
    commands = remote_commands(
        render_config(config, resolve_secrets=True, environ=secrets_env(server, {"PW": BACKUP_PW}))
    )
    steps = engine.apply(commands)
    for step in steps:
        assert step.ok, f"{step.name} {step.op}:\n{step.proc.stdout}\n{step.proc.stderr}"
    assert "borgmatic-verify" in [s.name for s in steps], "every change must end in a verified backup"
    return {s.name: s for s in steps}


def _borgmatic(server: SshServer, *args: str, json_output: bool = False) -> str:
    config = server.home / ".config" / "borgmatic.d" / "pg-dr.yaml"
    argv = " ".join(shlex.quote(a) for a in (BORGMATIC, "--config", str(config), *args))
    proc = server.run(sh_command(f"HOME={shlex.quote(str(server.home))} {argv}"))
    assert proc.returncode == 0, f"borgmatic {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    for secret in (BACKUP_PW, EBLUME_PW):
        assert secret not in proc.stdout + proc.stderr
    return proc.stdout if json_output else proc.stdout + proc.stderr


def _dumps_in_latest_archive(server: SshServer) -> list[str]:
    """The database dumps ``borgmatic list --archive latest`` shows (``<host:port>/<db>``), as the runbook read them."""
    listing = _borgmatic(server, "list", "--archive", "latest")
    return sorted(set(re.findall(r"borgmatic/postgresql_databases/([^/\s]+/[^/\s]+)$", listing, re.MULTILINE)))


def test_runbook_backup_restore_dual_backup_and_rollback(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    server = root_sshd
    brew, k8s = _brew(postgres_factory), _k8s_pg(postgres_factory)
    source_counts = brew.row_counts("miniflux")
    assert source_counts == miniflux.RUNBOOK_COUNTS
    assert k8s.row_counts("miniflux") == {}
    # the operator's own superuser line (outside pg-dr's block, which keeps it): used for the restore only
    pgpass = server.home / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{k8s.port}:*:eblume:{pgpass_escape(EBLUME_PW)}\n")
    pgpass.chmod(0o600)
    init_repository(server)
    engine = Engine(server)
    brew_dump = f"localhost:{brew.port}/miniflux"
    k8s_dump = f"127.0.0.1:{k8s.port}/miniflux"

    # 1. back up the brew database
    _apply(engine, server, [_entry(brew, "localhost")])
    assert _dumps_in_latest_archive(server) == [brew_dump]

    # 2. restore it into k8s-pg (the target database exists: CNPG bootstrap made it)
    _borgmatic(
        server,
        *("restore", "--archive", "latest", "--database", "miniflux"),
        *("--original-hostname", "localhost", "--original-port", str(brew.port)),
        *("--hostname", "127.0.0.1", "--port", str(k8s.port), "--username", "eblume"),
    )

    # 3. row counts, table by table: the runbook's 2 users, 2 feeds, 44 entries
    restored = k8s.row_counts("miniflux")
    assert restored == source_counts
    assert (restored["public.users"], restored["public.feeds"], restored["public.entries"]) == (2, 2, 44)
    assert k8s.fingerprint("miniflux") == brew.fingerprint("miniflux")  # not just counts: the same rows
    assert k8s.scalar("SELECT count(*) FROM entries e JOIN feeds f ON f.id = e.feed_id", db="miniflux") == "44"
    assert k8s.scalar("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", db="miniflux") == (
        "miniflux"
    )

    # 4. dual backup: both dumps in the latest archive
    steps = _apply(engine, server, [_entry(brew, "localhost"), _entry(k8s, "127.0.0.1")])
    assert {"borgmatic-config", "borgmatic-pgpass"} <= set(steps)
    assert _dumps_in_latest_archive(server) == sorted([brew_dump, k8s_dump])
    text = pgpass.read_text()
    assert f"127.0.0.1:{k8s.port}:*:eblume:" in text  # the operator's line survived every delivery

    # 5. rollback / phase 4: remove the brew entry; the next archive holds only k8s-pg
    _apply(engine, server, [_entry(k8s, "127.0.0.1")])
    assert _dumps_in_latest_archive(server) == [k8s_dump]
    (repository,) = json.loads(_borgmatic(server, "repo-list", "--json", json_output=True))
    assert len(repository["archives"]) == 3  # one verified backup per apply
