"""The drill's messages carry names as data: a ``$`` in a database name (PgIdent allows it) is never expanded."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from components.drill.plan import Endpoint, _source_block

SHELLS = [s for s in ("sh", "dash", "posh", "bash") if shutil.which(s)]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_dollar_in_the_source_database_name_stays_in_the_message(shell: str, tmp_path) -> None:
    block = _source_block(Endpoint("localhost", 5432, "borgmatic", "mini$nosuch"))
    text = "\n".join(
        [
            "set -u",
            "fail() { printf '%s\\n' \"pg-dr drill: $*\" >&2; exit 1; }",
            "errors() { printf '%s' 'no such database'; }",
            "COUNT_SQL='SELECT 1'",
            "psql=false",
            f"work={tmp_path}",
            block,
        ]
    )
    proc = subprocess.run([shell, "-c", text], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr == (
        "pg-dr drill: cannot count the rows of the source mini$nosuch on localhost:5432: no such database\n"
    )
