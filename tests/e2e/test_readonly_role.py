"""Read-only proof on real PostgreSQL: the CNPG-managed ``borgmatic`` role dumps everything, writes nothing."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.support import miniflux
from tests.support.cnpg_sql import borgmatic_role_sql
from tests.support.postgres import PostgresServer

PASSWORD = "ro-test-pw:with\\odd'chars"
TABLES = sorted(t.split(".", 1)[1] for t in miniflux.RUNBOOK_COUNTS)

# One statement per write kind; each must be refused by PostgreSQL for the borgmatic role.
WRITES = {
    "INSERT": "INSERT INTO users (username) VALUES ('intruder')",
    "INSERT via COPY": "COPY schema_version FROM STDIN",
    "UPDATE": "UPDATE entries SET title = 'x' WHERE id = 1",
    "UPDATE (all rows)": "UPDATE users SET is_admin = true",
    "DELETE": "DELETE FROM entries",
    "TRUNCATE": "TRUNCATE feed_icons",
    "sequence nextval": "SELECT nextval('entries_id_seq')",
    "sequence setval": "SELECT setval('users_id_seq', 100)",
    "SELECT ... FOR UPDATE (row lock)": "SELECT id FROM users FOR UPDATE",
    "CREATE TABLE": "CREATE TABLE public.evil (id int)",
    "CREATE TABLE AS": "CREATE TABLE public.copy AS SELECT * FROM users",
    "CREATE SCHEMA": "CREATE SCHEMA evil",
    "CREATE INDEX": "CREATE INDEX evil_idx ON entries (title)",
    "CREATE VIEW": "CREATE VIEW public.v AS SELECT 1",
    "CREATE FUNCTION": "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "ALTER TABLE": "ALTER TABLE entries ADD COLUMN evil text",
    "ALTER TABLE OWNER": "ALTER TABLE users OWNER TO borgmatic",
    "DROP TABLE": "DROP TABLE enclosures",
    "DROP INDEX": "DROP INDEX document_vectors_idx",
    "DROP TYPE": "DROP TYPE entry_status CASCADE",
    "COMMENT": "COMMENT ON TABLE users IS 'x'",
    "CREATE DATABASE": "CREATE DATABASE evil",
    "CREATE ROLE": "CREATE ROLE evil",
    "ALTER ROLE (self escalation)": "ALTER ROLE borgmatic SUPERUSER",
}


REFUSED = re.compile(r"ERROR: +(permission denied|must be owner|must be superuser)")

# All that DDL could change: relations (kind, owner, effective ACL, comment), columns, types, schemas, roles, dbs.
CATALOG = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT format('%s %s %s %s %s', c.relname, c.relkind, c.relowner::regrole,
    coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)),
    obj_description(c.oid))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'pg_toast')
    AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname <> 'information_schema'
  UNION ALL SELECT format('%s.%s %s', attrelid::regclass, attname, atttypid::regtype) FROM pg_attribute
    WHERE attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace) AND attnum > 0
  UNION ALL SELECT format('type %s', typname) FROM pg_type WHERE typnamespace = 'public'::regnamespace
  UNION ALL SELECT format('schema %s %s', nspname, nspacl) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%temp\\_%'
  UNION ALL SELECT format('proc %s', proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
  UNION ALL SELECT format('role %s %s %s %s', rolname, rolsuper, rolcreatedb, rolcreaterole) FROM pg_roles
  UNION ALL SELECT format('db %s', datname) FROM pg_database
) s(x)
"""


@pytest.fixture(scope="module")
def k8s_pg() -> Iterator[PostgresServer]:
    """The k8s-pg stand-in: miniflux data owned by ``miniflux``, ``borgmatic`` created by CNPG's SQL."""
    with PostgresServer.start(name="k8s-pg") as pg:
        miniflux.create_runbook_database(pg)
        pg.sql(borgmatic_role_sql(PASSWORD))
        yield pg


def test_role_attributes_match_the_cnpg_spec(k8s_pg: PostgresServer) -> None:
    row = k8s_pg.rows(
        "SELECT rolcanlogin, rolinherit, rolconnlimit, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
        "rolbypassrls, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'borgmatic'"
    )
    assert row == [["t", "t", "-1", "f", "f", "f", "f", "f", "t"]]
    assert (
        k8s_pg.scalar(
            "SELECT string_agg(pg_get_userbyid(roleid), ',') FROM pg_auth_members WHERE member = 'borgmatic'::regrole"
        )
        == "pg_read_all_data"
    )


def test_borgmatic_can_dump_every_table(k8s_pg: PostgresServer, tmp_path) -> None:
    dump = tmp_path / "miniflux.dump"
    with k8s_pg.passfile("borgmatic", PASSWORD) as pgpass:
        proc = subprocess.run(
            [
                str(k8s_pg.bin_dir / "pg_dump"),
                "-Fc",
                "-w",
                "-h",
                k8s_pg.host,
                "-p",
                str(k8s_pg.port),
                "-U",
                "borgmatic",
                "-d",
                "miniflux",
                "-f",
                str(dump),
            ],
            env={"PATH": "/usr/bin:/bin", "PGPASSFILE": pgpass},
            capture_output=True,
            text=True,
        )
    assert proc.returncode == 0, proc.stderr
    listing = subprocess.run(
        [str(k8s_pg.bin_dir / "pg_restore"), "--list", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    dumped = sorted({line.split()[6] for line in listing.splitlines() if " TABLE DATA public " in line})
    assert dumped == TABLES
    # Every row is readable by the role (pg_read_all_data), not just the catalog.
    counts = {
        t: int(k8s_pg.sql_as("borgmatic", PASSWORD, f"SELECT count(*) FROM {t}", db="miniflux").stdout) for t in TABLES
    }
    assert counts == {t.split(".", 1)[1]: n for t, n in miniflux.RUNBOOK_COUNTS.items()}


@pytest.mark.parametrize("kind", list(WRITES))
def test_every_write_kind_is_refused(k8s_pg: PostgresServer, kind: str) -> None:
    data_before = k8s_pg.fingerprint("miniflux")
    catalog_before = k8s_pg.scalar(CATALOG, db="miniflux")
    proc = k8s_pg.sql_as("borgmatic", PASSWORD, WRITES[kind] + ";", db="miniflux", check=False)
    assert proc.returncode != 0, f"{kind} was accepted: {proc.stdout} {proc.stderr}"
    assert REFUSED.search(proc.stderr), proc.stderr
    assert k8s_pg.fingerprint("miniflux") == data_before
    assert k8s_pg.scalar(CATALOG, db="miniflux") == catalog_before


def test_grant_grants_nothing(k8s_pg: PostgresServer) -> None:
    """PostgreSQL answers a GRANT by a non-owner with a warning, not an error: prove nothing changed."""
    catalog_before = k8s_pg.scalar(CATALOG, db="miniflux")
    proc = k8s_pg.sql_as("borgmatic", PASSWORD, "GRANT ALL ON users TO PUBLIC;", db="miniflux", check=False)
    assert "no privileges were granted" in proc.stderr
    assert k8s_pg.scalar(CATALOG, db="miniflux") == catalog_before
    assert k8s_pg.scalar("SELECT has_table_privilege('public', 'users', 'INSERT')", db="miniflux") == "f"


def test_temporary_tables_are_the_only_thing_it_may_create(k8s_pg: PostgresServer) -> None:
    """Documented boundary: PUBLIC keeps PostgreSQL's default TEMP privilege. A temp table lives in the
    session only; nothing persistent changes (REVOKE TEMP ON DATABASE ... FROM PUBLIC closes even that)."""
    catalog_before = k8s_pg.scalar(CATALOG, db="miniflux")
    proc = k8s_pg.sql_as("borgmatic", PASSWORD, "CREATE TEMP TABLE scratch AS SELECT 1;", db="miniflux", check=False)
    assert proc.returncode == 0, proc.stderr
    assert k8s_pg.scalar(CATALOG, db="miniflux") == catalog_before


def test_the_change_detectors_are_not_blind(k8s_pg: PostgresServer) -> None:
    """Control: the same DDL/DML run by the owner is seen by the fingerprints used above (then undone)."""
    data, catalog = k8s_pg.fingerprint("miniflux"), k8s_pg.scalar(CATALOG, db="miniflux")
    k8s_pg.sql("SET ROLE miniflux; CREATE INDEX probe_idx ON entries (title);", db="miniflux")
    assert k8s_pg.scalar(CATALOG, db="miniflux") != catalog
    k8s_pg.sql("DROP INDEX probe_idx; UPDATE users SET is_admin = NOT is_admin WHERE id = 2;", db="miniflux")
    assert k8s_pg.fingerprint("miniflux") != data
    k8s_pg.sql("UPDATE users SET is_admin = NOT is_admin WHERE id = 2;", db="miniflux")
    assert (k8s_pg.fingerprint("miniflux"), k8s_pg.scalar(CATALOG, db="miniflux")) == (data, catalog)
