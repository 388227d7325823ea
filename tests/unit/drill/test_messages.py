"""The restore's and the drill's messages carry names as data: a ``$`` (PgIdent allows it) or a ``\\`` in a
database name is never expanded nor interpreted (macOS sh's ``echo`` would read ``\\n``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.config.stack import parse_stack_config
from components.restore.plan import restore_script
from tests.support.stacks import BASE, raw_sections

SHELLS = [s for s in (["dash"], ["posh"], ["bash", "--posix"]) if shutil.which(s[0])]


@pytest.fixture(scope="module")
def command(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("messages") / "pg-dr-restore"
    path.write_text(restore_script(parse_stack_config(raw_sections(BASE)).backup))
    return path


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("name", ["mini$nosuch", "mini\\nosuch", "mini$(id)", "mini`id`"])
def test_a_database_name_stays_as_typed_in_the_message(command: Path, shell: list[str], name: str) -> None:
    args = ["--database", name, "--target-host", "h", "--target-port", "5", "--target-user", "u"]
    proc = subprocess.run(
        ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", *shell, "-u", str(command), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        f"pg-dr-restore: FAILED usage: --database: no dump named '{name}' in pg-dr's config (known: miniflux)"
    ]
