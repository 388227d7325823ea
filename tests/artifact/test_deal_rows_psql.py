"""pg-dr-restore's parallel data load against real ``pg_dump``/``pg_restore`` output and real ``psql``.

A database with what a dump's data section can hold beside plain rows (a large object, sequence values, a
partitioned table, a generated column, bytea, text with tabs, newlines and backslashes, a table whose
quoted name holds `` (``) is restored two ways into one server: a raw ``pg_restore``, and the way
``pg-dr-restore --jobs 3`` does it (pre-data, the rows dealt out by ``deal-rows.awk`` to three ``psql``
sessions running at once, post-data with ``pg_restore --jobs 2``). Both must be equal, and the dealer's
counts must be each table's rows. The data is read with ``pg_restore --section=data``, as the script does:
``--data-only`` would also emit the large objects' ``lo_create``, which the pre-data already ran.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from components.remote.shell import template
from components.restore.plan import SH, awk_program
from tests.support.postgres import PostgresServer

SOURCE = r"""
CREATE SCHEMA "my schema";
CREATE TABLE public.notes (id serial PRIMARY KEY, body text, raw bytea, twice int GENERATED ALWAYS AS (id * 2) STORED);
INSERT INTO public.notes (body, raw)
  SELECT CASE i % 4 WHEN 0 THEN E'tab\there' WHEN 1 THEN E'line\nbreak \\ back' WHEN 2 THEN NULL ELSE 'é ' || i END,
         decode(lpad(to_hex(i), 8, '0'), 'hex')
  FROM generate_series(1, 2000) AS i;
CREATE TABLE public."odd (name" ("a (b" int);
INSERT INTO public."odd (name" SELECT generate_series(1, 7);
CREATE TABLE "my schema"."a ""b"" c" (x text);
INSERT INTO "my schema"."a ""b"" c" VALUES ('\.'), ('COPY x FROM stdin;'), ('');
CREATE TABLE public.events (at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE public.events_2025 PARTITION OF public.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.events_2026 PARTITION OF public.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO public.events SELECT DATE '2025-06-01' + i, 'e' || i FROM generate_series(0, 399) AS i;
CREATE TABLE public.empty (x int);
SELECT setval('public.notes_id_seq', 5000);
SELECT lo_from_bytea(424242, 'a large object, restored once'::bytea);
CREATE INDEX notes_body ON public.notes (body);
"""
CHECK = """SELECT 'lo', encode(lo_get(424242), 'escape')
UNION ALL SELECT 'seq', last_value::text FROM public.notes_id_seq
UNION ALL SELECT 'los', count(*)::text FROM pg_largeobject_metadata
UNION ALL SELECT 'twice', sum(twice)::text FROM public.notes
UNION ALL SELECT 'index', count(*)::text FROM pg_indexes WHERE indexname = 'notes_body'"""
# every table's rows as one md5 (names with spaces and quotes included: regclass quotes them)
CONTENTS = r"""SELECT c.oid::regclass::text, (xpath('/row/m/text()', query_to_xml(format(
    'SELECT md5(coalesce(string_agg(x::text, E''\n'' ORDER BY x::text), '''')) AS m FROM %s x', c.oid::regclass),
    false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  ORDER BY 1"""


def _tool(server: PostgresServer, name: str, *args: str, db: str = "postgres") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(server.bin_dir / name), *args], env=server.superuser_env(db), capture_output=True)


def test_rows_dealt_to_three_sessions_restore_what_pg_restore_does(postgres_server: PostgresServer, tmp_path: Path):
    pg = postgres_server
    pg.create_database("source")
    pg.sql(SOURCE, db="source")
    dump = tmp_path / "source.dump"
    dump.write_bytes(pg.dump_custom("source"))

    pg.create_database("raw")
    assert _tool(pg, "pg_restore", "--exit-on-error", "--dbname=raw", str(dump)).returncode == 0

    pg.create_database("dealt")
    pre = _tool(pg, "pg_restore", "--exit-on-error", "--section=pre-data", "--dbname=dealt", str(dump))
    assert pre.returncode == 0, pre.stderr
    assert '"$pg_restore" --section=data -f "$work/count.sql" <"$1"' in template(SH / "pg-dr-restore.sh")
    data = _tool(pg, "pg_restore", "--section=data", "-f", "-", str(dump))
    assert data.returncode == 0, data.stderr
    deal = subprocess.run(
        ["awk", "-v", "n=3", "-v", f"dir={tmp_path}", awk_program(SH / "deal-rows.awk")],
        input=data.stdout, capture_output=True, check=True, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )  # fmt: skip
    sessions = [
        subprocess.Popen(
            [str(pg.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(tmp_path / f"sink.{i}")],
            env=pg.superuser_env("dealt"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in (1, 2, 3)
    ]
    for session in sessions:
        assert session.wait(timeout=120) == 0, session.stderr.read() if session.stderr else ""
    post = _tool(pg, "pg_restore", "--exit-on-error", "--section=post-data", "--jobs=2", "--dbname=dealt", str(dump))
    assert post.returncode == 0, post.stderr

    # every session got rows of the big table; the restores are equal, row for row
    assert all((tmp_path / f"sink.{i}").read_text().count("\n") > 600 for i in (1, 2, 3))
    contents = pg.rows(CONTENTS, db="source")
    assert len(contents) == 7 and pg.rows(CONTENTS, db="dealt") == pg.rows(CONTENTS, db="raw") == contents
    assert pg.rows(CHECK, db="dealt") == pg.rows(CHECK, db="raw") == [
        ["lo", "a large object, restored once"], ["seq", "5000"], ["los", "1"], ["twice", "4002000"], ["index", "1"],
    ]  # fmt: skip
    counts = dict(line.split("\t") for line in deal.stdout.decode().splitlines())
    assert counts == {
        "public.notes": "2000",
        'public."odd (name"': "7",
        '"my schema"."a ""b"" c"': "3",
        "public.events_2025": "214",
        "public.events_2026": "186",
        "public.empty": "0",
    }
