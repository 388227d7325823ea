"""pg-dr-restore: what ``pulumi up`` delivers, its config keys, and its argument errors (no server needed).

Every bad argument is one line on stdout, ``pg-dr-restore: FAILED usage: <the argument>: ...``, exit 2,
under each shell the script must run in (dash as Debian's /bin/sh, posh for strict POSIX, bash in POSIX
mode as macOS's /bin/sh).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from components.restore.plan import restore_script
from offline.engine import iter_plain_strings
from tests.support.render import render_config
from tests.support.stacks import BASE, raw_sections, stack

COMMAND = "command:remote:Command"
HOST = "hosts/indri.tail8d86e.ts.net"
SHELLS = [["dash"], ["posh"], ["bash", "--posix"]]


def _backup(**changes):
    raw = raw_sections(BASE)
    raw["backup"].update(changes)
    return parse_stack_config(raw).backup


@pytest.fixture(scope="module")
def command(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("restore") / "pg-dr-restore"
    path.write_text(restore_script(_backup()))
    return path


def test_up_delivers_it_executable_at_its_path_and_renders_it() -> None:
    render = render_config(stack())
    component = render.one("pg-dr:index:RestoreCommand")
    delivery = render.one(COMMAND, "restore-command")
    text = component.outputs["renderFiles"][f"{HOST}/pg-dr-restore"]
    assert delivery.parent == component.urn
    assert "target=/Users/erichblume/.local/bin/pg-dr-restore\nmode=755\n" in delivery.inputs["create"]
    assert delivery.inputs["stdin"] == text and delivery.inputs["triggers"][0].endswith("/pg-dr-restore")
    assert text.startswith("#!/bin/sh\n") and "Managed by pg-dr" in text
    # the host's settings, baked in: nothing else is needed on the day the Pulumi state is gone
    for fragment in (
        "borg=/opt/homebrew/bin/borg",
        "bindir=/opt/homebrew/opt/postgresql@18/bin",
        "PGPASSFILE=${PGPASSFILE:-/Users/erichblume/.pgpass}",
        "BORG_PASSCOMMAND='cat /Users/erichblume/.borg/passphrase'",
        "glob='pg-dr-*'",
        "repositories='sifaka\t/Volumes/backups/borg'",
        "miniflux\tk8s-pg.tail8d86e.ts.net\t5432\t-\tcustom\tborgmatic/postgresql_databases/k8s-pg.tail8d86e.ts.net:"
        "5432/miniflux\tUsers/erichblume/.local/state/pg-dr/roles/k8s-pg.tail8d86e.ts.net:5432.sql",
    ):
        assert fragment in text, fragment
    # the host check refuses a file at its path that pg-dr did not write
    assert "pg-dr:backup.restoreCommandPath" in render.one(COMMAND, "borgmatic-host-check").inputs["create"]


def test_restore_command_path_moves_it_and_no_secret_is_in_it() -> None:
    config = stack(secrets={"provider": "env"})
    config["pg-dr:backup"]["restoreCommandPath"] = "/Users/erichblume/bin/pg-dr-restore"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PGDR_PW"
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PGDR_PW"
    render = render_config(config, resolve_secrets=True, environ={"PGDR_PW": "s3cret:pw"})
    delivery = render.one(COMMAND, "restore-command")
    assert "target=/Users/erichblume/bin/pg-dr-restore\n" in delivery.inputs["create"]
    for resource in (delivery, render.one("pg-dr:index:RestoreCommand")):
        for where in (resource.inputs, resource.outputs):
            for _, text in iter_plain_strings(where):
                assert "s3cret" not in text


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("bin/pg-dr-restore", "pg-dr:backup.restoreCommandPath"),
        ("/Users/erichblume/bin/pg-dr-drill", "pg-dr:backup.restoreCommandPath: pg-dr-drill is the drill's file"),
        ("/Users/erichblume/.pgpass", "pg-dr:backup.restoreCommandPath: /Users/erichblume/.pgpass is also the file"),
    ],
)
def test_restore_command_path_problems_name_the_key(value: str, problem: str) -> None:
    raw = raw_sections(BASE)
    raw["backup"]["restoreCommandPath"] = value
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    assert problem in str(caught.value)


def test_the_nightly_run_stores_each_servers_roles_in_the_archive() -> None:
    render = render_config(stack())
    text = render.one(COMMAND, "borgmatic-config").inputs["stdin"]
    doc = yaml.safe_load(text)
    assert doc["source_directories"] == ["/Users/erichblume/.local/state/pg-dr/roles"]
    (hook,) = doc["commands"]
    assert (hook["before"], hook["when"]) == ("action", ["create"])
    assert len(hook["run"]) == 2  # one per server
    brew = hook["run"][0]
    assert brew.startswith("umask 077 && mkdir -p /Users/erichblume/.local/state/pg-dr/roles && ")
    assert (
        "/opt/homebrew/opt/postgresql@18/bin/pg_dumpall --roles-only --no-role-passwords -w -h localhost -p 5432 "
        "-U borgmatic -l miniflux -f /Users/erichblume/.local/state/pg-dr/roles/.localhost:5432.sql.part && mv -f "
    ) in brew
    assert "password" not in brew.lower().replace("no-role-passwords", "")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_help_is_usage_ending_in_the_ok_line_and_exit_0(command: Path, shell: list[str]) -> None:
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} not installed")
    proc = subprocess.run([*shell, str(command), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("pg-dr-restore --list [--repository LABEL]\n")
    assert proc.stdout.endswith('\npg-dr-restore: OK {"help": true}\n')  # the last line is always the verdict


def test_its_text_parses_under_every_shell(command: Path) -> None:
    for shell in SHELLS:
        if shutil.which(shell[0]) is None:
            pytest.skip(f"{shell[0]} not installed")
        proc = subprocess.run([*shell, "-n", str(command)], capture_output=True, text=True)
        assert proc.returncode == 0, (shell, proc.stderr)


BAD = [
    (["--jobs", "x"], "--jobs: 'x' is not a positive integer"),
    (["--jobs", "0"], "--jobs: '0' is not a positive integer"),
    (["--target-port", "70000"], "--target-port: '70000' is not a port"),
    (["--target-port=5x"], "--target-port: '5x' is not a port"),
    (["--bogus"], "unknown argument --bogus"),
    (["--database"], "--database: missing value"),
    (["--database", ""], "--database: empty value"),
    (["--target-host", "a\tb"], "--target-host: contains a control character"),
    (["--target-database", "a\nb"], "--target-database: contains a control character"),
    (["--archive", "x\n"], "--archive: contains a control character"),
    (["--list", "--database", "x"], "--list: takes only --repository"),
    (["--list=yes"], "--list: takes no value"),
    (["--min-count", "users"], "--min-count: 'users' is not SCHEMA.TABLE=N"),
    (["--min-count", "users=many"], "--min-count: 'users=many' is not SCHEMA.TABLE=N"),
    (["--repository", "nope"], "--repository: no repository labelled 'nope' (known: sifaka)"),
    (["--target-host", "h", "--target-port", "5", "--target-user", "u"], "--database: required"),
    (["--database", "miniflux", "--target-port", "5", "--target-user", "u"], "--target-host: required"),
    (["--database", "miniflux", "--target-host", "h", "--target-user", "u"], "--target-port: required"),
    (["--database", "miniflux", "--target-host", "h", "--target-port", "5"], "--target-user: required"),
    (["--database", "nope", "--target-host", "h", "--target-port", "5", "--target-user", "u"],
     "--database: no dump named 'nope' in pg-dr's config (known: miniflux)"),
    (["--database", "miniflux", "--target-host", "h", "--target-port", "5", "--target-user", "u"],
     "--source: required: miniflux is backed up from localhost:5432 and k8s-pg.tail8d86e.ts.net:5432"),
    (["--database", "miniflux", "--source", "x:1", "--target-host", "h", "--target-port", "5", "--target-user", "u"],
     "--source: no dump of miniflux from 'x:1' (known: localhost:5432 k8s-pg.tail8d86e.ts.net:5432)"),
    (["--database", "miniflux", "--source", "localhost:5432", "--target-host", "h", "--target-port", "5",
      "--target-user", "u", "--target-database", "template1"], "--target-database: 'template1' is a system database"),
    (["--database", "miniflux", "--source", "localhost:5432", "--target-host", "h", "--target-port", "5",
      "--target-user", "u", "--tmpdir", "/nonexistent"], "--tmpdir: /nonexistent is not a directory"),
]  # fmt: skip


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize(("args", "message"), BAD, ids=[b[1].split(":")[0] + str(i) for i, b in enumerate(BAD)])
def test_every_bad_argument_is_one_line_naming_it(command: Path, shell: list[str], args: list, message: str) -> None:
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} not installed")
    proc = subprocess.run([*shell, str(command), *args], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == ""
    (line,) = proc.stdout.splitlines()
    assert line.startswith(f"pg-dr-restore: FAILED usage: {message}"), line
