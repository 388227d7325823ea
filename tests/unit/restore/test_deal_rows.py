"""pg-dr-restore's dealer (``components/restore/sh/deal-rows.awk``): a dump's data, as ``pg_restore
--data-only -f`` writes it, counted per table and dealt out row by row to N psql sessions.

Run under every awk at hand: mawk (Debian's awk), the one true awk (``original-awk``: what macOS ships as
``/usr/bin/awk``) and busybox's. What must hold for any input and any N:

- the counts are each COPY block's rows, in order;
- row k of a block (from 1) is in session ``k % N + 1``, and every row is in exactly one session, in order;
- every session gets the prologue and every COPY's header and end (so each is a script psql runs alone);
- the first session is the input less the rows dealt to the others: every other statement (sequence
  values, large objects, statistics, a ``SET`` after the prologue) runs once, in its place.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.restore.plan import SH, awk_program

AWKS = [a for a in (["mawk"], ["original-awk"], ["busybox", "awk"]) if shutil.which(a[0])]
PROLOGUE = [
    "--",
    "-- PostgreSQL database dump",
    "--",
    "",
    "\\restrict 7SXjFLp1F8pL6sA4Q6UCH50jjRxQSbk9hoAdqLbG1bDFKO6JLfb99gbk1whf2iB",
    "",
    "SET statement_timeout = 0;",
    "SET client_encoding = 'UTF8';",
    "SELECT pg_catalog.set_config('search_path', '', false);",
    "SET row_security = off;",
    "",
]


@dataclass(frozen=True)
class Block:
    table: str
    rows: tuple[str, ...]

    def lines(self) -> list[str]:
        name = self.table.split(".")[-1]
        return [
            "--",
            f"-- Data for Name: {name}; Type: TABLE DATA; Schema: public; Owner: miniflux",
            "--",
            "",
            f"COPY {self.table} (id, title) FROM stdin;",
            *self.rows,
            "\\.",
            "",
        ]


# a COPY row: any text on one line (pg_dump escapes newlines, carriage returns and backslashes; the line
# "\." cannot occur), here with tabs, quotes, "%" and lines that look like SQL or a COPY header
ROW = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00"), max_size=40),
    st.sampled_from(["SET x = 1;", "COPY public.t (a) FROM stdin;", "--", "", "\\N\t\\\\\t%d %s", "é\t'\""]),
).filter(lambda r: r != "\\.")
TABLE = st.sampled_from(
    ["public.entries", 'public."We ird"', "other.feeds", 'public."odd (name"', '"my schema"."a ""b"" (c"']
)
STATEMENT = st.sampled_from(
    [
        ["SELECT pg_catalog.setval('public.entries_id_seq', 44, true);"],
        [
            "BEGIN;",
            "SELECT pg_catalog.lo_open('16385', 131072);",
            "SELECT pg_catalog.lowrite(0, '\\x00ff');",
            "COMMIT;",
        ],
        [
            "SELECT * FROM pg_catalog.pg_restore_relation_stats(",
            "\t'relname', 'entries',",
            "\t'relpages', '1'::integer",
            ");",
        ],
        ["SET default_tablespace = '';"],
        ["-- a comment after the prologue", ""],
    ]
)
PART = st.one_of(st.builds(Block, TABLE, st.lists(ROW, max_size=12).map(tuple)), STATEMENT)


def _deal(awk: list[str], text: str, n: int, directory: Path) -> tuple[str, list[list[str]]]:
    for old in directory.glob("sink.*"):
        old.unlink()
    program = awk_program(SH / "deal-rows.awk")
    proc = subprocess.run(
        [*awk, "-v", f"n={n}", "-v", f"dir={directory}", program],
        input=text.encode(), capture_output=True, check=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    sinks = [directory / f"sink.{i}" for i in range(1, n + 1)]
    return proc.stdout.decode(), [s.read_bytes().decode().split("\n")[:-1] for s in sinks]


def _prologue_like(line: str) -> bool:
    return line.startswith(("SET ", "SELECT pg_catalog.set_config(", "\\restrict ", "--")) or line == ""


def _expected(lines: list[str], parts: list, n: int) -> tuple[str, list[list[str]]]:
    """The counts and each session's lines: the first is the input less the rows dealt to the others;
    another is the input's leading settings and comments, then each COPY's header, its share, its end."""
    blocks = [p for p in parts if isinstance(p, Block)]
    counts = "".join(f"{b.table}\t{len(b.rows)}\n" for b in blocks)
    lead = 0
    while lead < len(lines) and _prologue_like(lines[lead]):
        lead += 1
    dealt: list[list[str]] = [lines[:lead] for _ in range(n)]
    share: set[tuple[int, int]] = set()  # (line index, session) of every dealt row
    index = len(PROLOGUE)
    for part in parts:
        if isinstance(part, Block):
            for j in range(1, n):
                dealt[j] += [f"COPY {part.table} (id, title) FROM stdin;"]
                dealt[j] += [r for k, r in enumerate(part.rows, start=1) if k % n == j]
                dealt[j] += ["\\."]
            share |= {(index + 4 + k, k % n) for k in range(1, len(part.rows) + 1)}
        index += len(part.lines()) if isinstance(part, Block) else len(part)
    dealt[0] = [line for i, line in enumerate(lines) if not any((i, j) in share for j in range(1, n))]
    return counts, dealt


@pytest.mark.parametrize("awk", AWKS, ids=[a[0] for a in AWKS])
@settings(max_examples=60, deadline=None)
@given(parts=st.lists(PART, max_size=6), n=st.integers(min_value=0, max_value=4))
def test_every_row_in_one_session_and_every_statement_once(
    awk: list[str], parts: list, n: int, tmp_path_factory
) -> None:
    directory = tmp_path_factory.mktemp("deal")
    lines = PROLOGUE + [line for p in parts for line in (p.lines() if isinstance(p, Block) else p)]
    counts, sinks = _deal(awk, "\n".join(lines) + "\n", n, directory)
    want_counts, want_sinks = _expected(lines, parts, max(n, 1))
    assert counts == want_counts
    if n:
        assert sinks == want_sinks


def test_all_three_awks_are_here() -> None:
    """CI installs original-awk (the awk of macOS) and busybox beside mawk: the dealer is proven on each."""
    assert [a[0] for a in AWKS] == ["mawk", "original-awk", "busybox"]


@pytest.mark.parametrize("awk", AWKS, ids=[a[0] for a in AWKS])
def test_a_long_row_passes_whole(awk: list[str], tmp_path: Path) -> None:
    """A row of 4 MB (a large text or bytea value) is one line to every awk."""
    row = "1\t" + "x" * (4 << 20)
    text = "\n".join([*PROLOGUE, "COPY public.entries (id, title) FROM stdin;", row, "2\ty", "\\.", ""]) + "\n"
    counts, (first, second) = _deal(awk, text, 2, tmp_path)
    assert counts == "public.entries\t2\n"
    assert second[-3:] == ["COPY public.entries (id, title) FROM stdin;", row, "\\."]
    assert first[-4:] == ["COPY public.entries (id, title) FROM stdin;", "2\ty", "\\.", ""]


@pytest.mark.parametrize("awk", AWKS, ids=[a[0] for a in AWKS])
def test_every_session_is_opened_even_for_an_input_without_a_line(awk: list[str], tmp_path: Path) -> None:
    """Each psql session waits for its fifo to be opened; a dealer that never opened one (nothing to send
    it) would leave that session, and the restore waiting on it, stuck for ever."""
    counts, sinks = _deal(awk, "", 3, tmp_path)
    assert (counts, sinks) == ("", [[], [], []])
