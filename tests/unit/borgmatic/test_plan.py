"""What BorgmaticHost delivers, checked as text (config, pgpass block, schedule files, scripts)."""

from __future__ import annotations

import plistlib
import subprocess

import pytest
import yaml

from components.borgmatic import plan as files
from components.borgmatic import scripts
from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from components.remote.pgpass import merge_pgpass, pgpass_escape
from components.remote.shell import sh_command
from tests.support.render import render_stack
from tests.support.stacks import BASE, raw_sections

PROD_HOST = "indri.tail8d86e.ts.net"


def _merge(existing: bytes | None, block: bytes | None) -> bytes:
    return merge_pgpass(existing, block, files.PGPASS_BEGIN, files.PGPASS_END)


def _backup(**changes):
    raw = raw_sections(BASE)
    raw["backup"].update(changes)
    return parse_stack_config(raw).backup


# ------------------------------------------------------------------------------------------ config.yaml
def test_config_has_absolute_binaries_and_no_password() -> None:
    cfg = _backup(pgBinDir="/opt/homebrew/opt/postgresql@18/bin")
    doc = yaml.safe_load(files.borgmatic_config(cfg))
    assert doc["local_path"] == "/opt/homebrew/bin/borg"
    assert doc["repositories"] == [{"path": "/Volumes/backups/borg/", "label": "sifaka"}]
    assert doc["encryption_passcommand"] == "cat /Users/erichblume/.borg/passphrase"
    assert (doc["keep_daily"], doc["keep_monthly"], doc["keep_yearly"]) == (7, 12, 1000)
    assert "keep_weekly" not in doc
    assert doc["checks"] == [
        {"name": "repository", "frequency": "2 weeks"},
        {"name": "archives", "frequency": "2 weeks"},
    ]
    assert [(d["hostname"], d["port"], d["name"]) for d in doc["postgresql_databases"]] == [
        ("localhost", 5432, "miniflux"),
        ("k8s-pg.tail8d86e.ts.net", 5432, "miniflux"),
    ]
    for entry in doc["postgresql_databases"]:
        assert "password" not in entry  # libpq reads ~/.pgpass
        assert entry["pg_dump_command"] == "/opt/homebrew/opt/postgresql@18/bin/pg_dump"
        assert entry["pg_restore_command"] == "/opt/homebrew/opt/postgresql@18/bin/pg_restore"
        assert entry["psql_command"] == "/opt/homebrew/opt/postgresql@18/bin/psql"
        assert entry["format"] == "custom"


def test_removing_a_database_removes_it_from_the_config_and_pgpass() -> None:
    """The runbook's rollback is a config change: drop the k8s-pg entry, it is gone from both files."""
    both = _backup()
    raw = raw_sections(BASE)
    raw["backup"]["databases"] = raw["backup"]["databases"][:1]
    raw["backup"]["databases"][0]["hostname"] = "localhost"
    one = parse_stack_config(raw).backup
    assert "k8s-pg" in files.borgmatic_config(both) and "k8s-pg" not in files.borgmatic_config(one)
    assert len(yaml.safe_load(files.borgmatic_config(one))["postgresql_databases"]) == 1
    assert "k8s-pg" not in files.redacted_pgpass_block(files.pgpass_entries(one))


def test_dump_settings_label_and_restore_jobs() -> None:
    raw = raw_sections(BASE)
    raw["backup"]["databases"][0].update(label="brew", format="directory", compression="zstd:3", restoreJobs=4)
    cfg = parse_stack_config(raw).backup
    entry = yaml.safe_load(files.borgmatic_config(cfg))["postgresql_databases"][0]
    assert entry["label"] == "brew" and entry["format"] == "directory" and entry["compression"] == "zstd:3"
    assert entry["restore_options"] == "--jobs=4"
    assert [d.path for d in files.expected_dumps(cfg)] == [
        "borgmatic/postgresql_databases/brew/miniflux",
        "borgmatic/postgresql_databases/k8s-pg.tail8d86e.ts.net:5432/miniflux",
        # each server's roles, beside the dumps (the roles files are named like the dump directories)
        "Users/erichblume/.local/state/pg-dr/roles/brew.sql",
        "Users/erichblume/.local/state/pg-dr/roles/k8s-pg.tail8d86e.ts.net:5432.sql",
    ]
    assert [d.roles for d in files.expected_dumps(cfg)] == [False, False, True, True]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["backup"]["databases"][0].update(format="plain", restoreJobs=2),
            "pg-dr:backup.databases[0].restoreJobs: parallel restore needs format custom or directory",
        ),
        (lambda r: r["backup"]["databases"][0].update(label="a/b"), "pg-dr:backup.databases[0].label: 'a/b' is not"),
        (lambda r: r["backup"]["databases"][0].update(compression="brotli"), "is not a pg_dump compression"),
        (
            lambda r: r["backup"]["databases"][1].update(label="localhost:5432"),
            "pg-dr:backup.databases[1].label: 'localhost:5432' is not",
        ),
        (
            lambda r: (
                r["backup"]["databases"][1].update(label="brew") or r["backup"]["databases"][0].update(label="brew")
            ),
            "pg-dr:backup.databases[1].label: dump path brew/miniflux is also used by databases[0]",
        ),
        (lambda r: r["backup"].update(borgPath="borg"), "pg-dr:backup.borgPath: 'borg' must be an absolute path"),
        (lambda r: r["backup"].pop("hostKey"), "pg-dr:backup.hostKey: required: pin the host key"),
        (
            lambda r: (
                r["backup"]["schedule"].update(launchctlPath="launchctl")
                if "schedule" in r["backup"]
                else r["backup"].update(schedule={"launchctlPath": "launchctl"})
            ),
            "pg-dr:backup.schedule.launchctlPath: 'launchctl' must be an absolute path",
        ),
    ],
)
def test_bad_backup_config_names_the_key(change, message: str) -> None:
    raw = raw_sections(BASE)
    change(raw)
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw)
    assert message in str(err.value)


# ---------------------------------------------------------------------------------------------- pgpass
def test_pgpass_block_escapes_like_libpq() -> None:
    cfg = _backup()
    block = files.pgpass_block(files.pgpass_entries(cfg), ["a:b\\c d"] * 2)
    lines = block.splitlines()
    assert lines[0] == files.PGPASS_BEGIN and lines[-1] == files.PGPASS_END
    assert lines[2:-1] == [
        "localhost:5432:*:borgmatic:a\\:b\\\\c d",
        "k8s-pg.tail8d86e.ts.net:5432:*:borgmatic:a\\:b\\\\c d",
    ]
    assert pgpass_escape("[::1]") == "[\\:\\:1]"
    with pytest.raises(ValueError, match="newline"):
        files.pgpass_block(files.pgpass_entries(cfg)[:1], ["line\nbreak"])


def test_one_pgpass_line_per_host_port_user() -> None:
    raw = raw_sections(BASE)
    extra = dict(raw["backup"]["databases"][0], name="other")
    raw["backup"]["databases"].append(extra)
    entries = files.pgpass_entries(parse_stack_config(raw).backup)
    assert [(e.hostname, e.port, e.username) for e in entries] == [
        ("localhost", 5432, "borgmatic"),
        ("k8s-pg.tail8d86e.ts.net", 5432, "borgmatic"),
    ]


def test_merge_keeps_user_lines_and_replaces_only_the_block() -> None:
    user = b"# mine\r\nhost:1:*:me:pw\nlast-line-without-newline"
    first = _merge(user, b"# BEGIN pg-dr\nA\n# END pg-dr\n")
    assert first == b"# BEGIN pg-dr\nA\n# END pg-dr\n" + user
    second = _merge(first, b"# BEGIN pg-dr\nB\n# END pg-dr\n")
    assert second == b"# BEGIN pg-dr\nB\n# END pg-dr\n" + user
    assert _merge(second, None) == user
    middle = b"top\n# BEGIN pg-dr\nA\n# END pg-dr\nbottom"
    assert _merge(middle, b"# BEGIN pg-dr\nC\n# END pg-dr\n") == b"top\n# BEGIN pg-dr\nC\n# END pg-dr\nbottom"
    with pytest.raises(ValueError, match="malformed"):
        _merge(b"# BEGIN pg-dr\nx\n", b"")


# -------------------------------------------------------------------------------------------- schedule
def test_launchd_plist_has_absolute_program_and_path_with_tools() -> None:
    cfg = _backup()
    (plist,) = files.schedule_files(cfg)
    assert plist.path == "/Users/erichblume/Library/LaunchAgents/io.pg-dr.borgmatic.plist"
    doc = plistlib.loads(plist.text.encode())
    assert doc["Label"] == "io.pg-dr.borgmatic"
    assert doc["ProgramArguments"][:3] == [
        "/opt/homebrew/bin/borgmatic",
        "--config",
        "/Users/erichblume/.config/borgmatic.d/pg-dr.yaml",
    ]
    path = doc["EnvironmentVariables"]["PATH"].split(":")
    assert path[:2] == ["/opt/homebrew/opt/postgresql@18/bin", "/opt/homebrew/bin"]
    assert {"/usr/bin", "/bin"} <= set(path)
    assert doc["StartCalendarInterval"] == {"Hour": 2, "Minute": 0}
    assert "PGPASSFILE" not in doc["EnvironmentVariables"]
    custom = _backup(pgpassPath="/Users/erichblume/.config/pg-dr/pgpass")
    env = plistlib.loads(files.schedule_files(custom)[0].text.encode())["EnvironmentVariables"]
    assert env["PGPASSFILE"] == "/Users/erichblume/.config/pg-dr/pgpass"


def test_systemd_units() -> None:
    cfg = _backup(schedule={"kind": "systemd", "hour": 3, "minute": 30}, homeDir="/home/pgdr")
    service, timer = files.schedule_files(cfg)
    assert service.path == "/home/pgdr/.config/systemd/user/io.pg-dr.borgmatic.service"
    assert timer.path == "/home/pgdr/.config/systemd/user/io.pg-dr.borgmatic.timer"
    assert "ExecStart=/opt/homebrew/bin/borgmatic --config /home/pgdr/.config/borgmatic.d/pg-dr.yaml" in service.text
    assert "Environment=PATH=/opt/homebrew/opt/postgresql@18/bin:/opt/homebrew/bin:" in service.text
    assert "OnCalendar=*-*-* 03:30:00" in timer.text and "Unit=io.pg-dr.borgmatic.service" in timer.text
    assert files.schedule_files(_backup(schedule={"kind": "none"})) == []


def test_render_files_are_published_per_host() -> None:
    published = render_stack("prod").render_files()
    base = f"hosts/{PROD_HOST}"
    assert {f"{base}/borgmatic.yaml", f"{base}/pgpass", f"{base}/io.pg-dr.borgmatic.plist"} <= set(published)
    assert "[redacted]" in published[f"{base}/pgpass"]
    dev = render_stack("dev").render_files()
    assert {"hosts/localhost/io.pg-dr.borgmatic.service", "hosts/localhost/io.pg-dr.borgmatic.timer"} <= set(dev)


# ------------------------------------------------------------------------------------------ scripts
def test_commands_are_posix_sh_whatever_the_login_shell() -> None:
    command = sh_command("echo 'it''s'")
    assert command.startswith("/bin/sh -c '")
    for shell in ("/bin/sh", "/bin/bash"):
        proc = subprocess.run([shell, "-c", command], capture_output=True, text=True)
        assert proc.stdout == "its\n"


def test_dump_patterns_match_borg_listing_lines() -> None:
    path = "borgmatic/postgresql_databases/k8s-pg.x:5432/miniflux"
    file_re = scripts.dump_pattern(files.ExpectedDump("miniflux@k8s-pg.x:5432", path, directory=False))
    dir_re = scripts.dump_pattern(files.ExpectedDump("miniflux@k8s-pg.x:5432", path, directory=True))
    old_borg = (
        '{"type": "-", "mode": "-rw-------", "path": '
        '"tmp/borgmatic-ab/borgmatic/postgresql_databases/k8s-pg.x:5432/miniflux", "flags": 0, "size": 1279}'
    )
    new_borg = old_borg.replace("tmp/borgmatic-ab/", "")
    empty = old_borg.replace('"size": 1279', '"size": 0')
    other_host = old_borg.replace("k8s-pg.x", "k8s-pgAx")
    directory = '{"type": "d", "mode": "drwx------", "path": "borgmatic/postgresql_databases/k8s-pg.x:5432/miniflux"}'

    def matches(pattern: str, line: str) -> bool:
        return subprocess.run(["grep", "-E", "-q", "-e", pattern], input=line + "\n", text=True).returncode == 0

    assert matches(file_re, old_borg) and matches(file_re, new_borg)
    assert not matches(file_re, empty) and not matches(file_re, other_host) and not matches(file_re, directory)
    assert matches(dir_re, directory) and not matches(dir_re, new_borg)


def test_parsers() -> None:
    assert scripts.parse_versions("x\npg-dr-version borg=borg 1.2.4\npg-dr-version psql=psql (PostgreSQL) 15\n") == {
        "borg": "borg 1.2.4",
        "psql": "psql (PostgreSQL) 15",
    }
    assert scripts.parse_dumps("summary\npg-dr-dump local borgmatic/x/y\n") == ["local borgmatic/x/y"]
    assert scripts.parse_versions("") == {} and scripts.parse_dumps("") == []


# ------------------------------------------------------------------------------------------ coexistence
def test_pg_dr_owns_its_own_file_and_archives_by_default() -> None:
    cfg = _backup()
    assert cfg.resolved_config_path == "/Users/erichblume/.config/borgmatic.d/pg-dr.yaml"
    assert cfg.config_found_by_default
    doc = yaml.safe_load(files.borgmatic_config(cfg))
    assert doc["archive_name_format"] == "pg-dr-{hostname}-{now:%Y-%m-%dT%H:%M:%S.%f}"
    assert doc["match_archives"] == "sh:pg-dr-*"
    # the repository's own settings are the host's: pg-dr never sets encryption or append-only
    assert doc["repositories"] == [{"path": "/Volumes/backups/borg/", "label": "sifaka"}]
    assert "lock_wait" not in doc
    # its own runtime base: borgmatic removes "leftover" dumps in every borgmatic-* directory of the base
    assert doc["user_runtime_directory"] == "/Users/erichblume/.cache/pg-dr/borgmatic"
    assert yaml.safe_load(files.borgmatic_config(_backup(lockWait=600)))["lock_wait"] == 600


def test_every_delivered_file_carries_the_owner_mark() -> None:
    for schedule in ({"kind": "launchd"}, {"kind": "systemd"}):
        cfg = _backup(schedule=schedule)
        texts = [files.borgmatic_config(cfg), *(f.text for f in files.schedule_files(cfg))]
        assert all(files.OWNER_MARK in text for text in texts)
    plist = files.schedule_files(_backup())[0].text
    assert plistlib.loads(plist.encode())["Label"] == "io.pg-dr.borgmatic"  # the comment keeps it a plist


def test_systemd_units_escape_specifiers_and_variables() -> None:
    """``%`` is a specifier everywhere in a unit, ``$`` a variable in a command's arguments (not its path)."""
    cfg = _backup(
        homeDir="/home/a%hb$HOME", borgmaticPath="/opt/%h/$X/borgmatic", schedule={"kind": "systemd", "hour": 4}
    )
    service, _ = files.schedule_files(cfg)
    lines = service.text.splitlines()
    assert (
        "ExecStart=/opt/%%h/$X/borgmatic --config /home/a%%hb$$HOME/.config/borgmatic.d/pg-dr.yaml --verbosity 1"
        in lines
    )
    (env,) = [line for line in lines if line.startswith("Environment=PATH=")]
    assert "/opt/%%h/$X:" in env and "%h/" not in env.replace("%%h", "")
