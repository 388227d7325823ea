"""RestoreDrill under the SDK's mocks and its config: opt-in, wiring, triggers, no secret in the open."""

from __future__ import annotations

import copy
import hashlib
import shlex

import pytest

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from components.drill.plan import RESULT_PREFIX, parse_result
from offline.engine import Secret, iter_plain_strings, reveal
from tests.support.render import render_config
from tests.support.stacks import stack

COMMAND = "command:remote:Command"
ENV = {
    "PGDR_BORGMATIC_PASSWORD": "bm-pw:1",
    "PGDR_SSH_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----",
    "PGDR_DRILL_PASSWORD": "drill:pw\\x",
}
DRILL = {
    "enabled": True,
    "runId": "2026-01-19",
    "database": "miniflux",
    "sourceHostname": "k8s-pg.tail8d86e.ts.net",
    "target": {"hostname": "localhost", "port": 5432, "username": "eblume", "password": "env:PGDR_DRILL_PASSWORD"},
    "expectedCounts": {"users": 2, "feeds": 2, "entries": 44},
}


def _stack(**drill) -> dict:
    config = stack(secrets={"provider": "env"})
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:backup"]["privateKey"] = "env:PGDR_SSH_KEY"
    config["pg-dr:drill"] = {**copy.deepcopy(DRILL), **drill}
    return config


def _parse(config: dict):
    return parse_stack_config({k.split(":", 1)[1]: v for k, v in config.items()})


def test_disabled_by_default_registers_nothing() -> None:
    config = _stack()
    del config["pg-dr:drill"]
    render = render_config(config, resolve_secrets=True, environ=ENV)
    assert not render.of_type("pg-dr:index:RestoreDrill")
    assert not [r for r in render.of_type(COMMAND) if r.name.startswith("drill")]


def test_children_wiring_and_trigger() -> None:
    render = render_config(_stack(), resolve_secrets=True, environ=ENV)
    component = render.one("pg-dr:index:RestoreDrill")
    borgmatic = render.one("pg-dr:index:BorgmaticHost")
    restore = render.one(COMMAND, "restore-command")
    run, pgpass = render.one(COMMAND, "drill-run"), render.one(COMMAND, "drill-pgpass")
    command = render.one(COMMAND, "drill-command")
    assert run.parent == pgpass.parent == command.parent == component.urn
    # after the whole BorgmaticHost (Pulumi expands a component dependency to its children) and pg-dr-restore
    borgmatic_children = {r.urn for r in render.children(borgmatic)}
    assert "urn:pulumi:test::pg-dr::pg-dr:index:BorgmaticHost$command:remote:Command::borgmatic-verify" in (
        borgmatic_children
    )
    assert borgmatic_children <= set(run.dependencies)
    assert borgmatic_children <= set(pgpass.dependencies)
    assert {pgpass.urn, command.urn, restore.urn} <= set(run.dependencies)
    assert run.inputs["triggers"] == ["2026-01-19"]
    assert reveal(run.inputs["connection"])["user"] == "erichblume"
    assert reveal(run.inputs["connection"])["hostKey"].startswith("ssh-ed25519 ")
    # the run at up runs the delivered pg-dr-drill, which runs pg-dr-restore into the scratch database only
    assert "/Users/erichblume/.local/bin/pg-dr-drill" in run.inputs["create"]
    drill = component.outputs["renderFiles"]["hosts/indri.tail8d86e.ts.net/pg-dr-drill"]
    assert "target=/Users/erichblume/.local/bin/pg-dr-drill\n" in command.inputs["create"]
    assert "mode=755" in command.inputs["create"] and command.inputs["stdin"] == drill
    for fragment in ("restore=/Users/erichblume/.local/bin/pg-dr-restore", "scratch=miniflux_pgdr_drill",
                     "--no-roles", "--min-count public.entries=44", "--source k8s-pg.tail8d86e.ts.net:5432",
                     '--target-database "$scratch"', "DROP DATABASE IF EXISTS"):  # fmt: skip
        assert fragment in drill, fragment
    assert "--target-database miniflux " not in drill
    # the target password travels only in the pgpass block (secret stdin, no logs)
    assert isinstance(pgpass.inputs["stdin"], Secret)
    assert "eblume:drill\\:pw\\\\x" in reveal(pgpass.inputs["stdin"])
    assert pgpass.inputs["logging"] == "none"
    assert "# BEGIN pg-dr drill" in pgpass.inputs["create"]
    assert component.outputs["scratchDatabase"] == "miniflux_pgdr_drill"
    # an in-place update prints the recorded verdict of this runId, never restores
    assert "pg-dr-drill" not in run.inputs["update"] and "not run again" in run.inputs["update"]


def test_no_secret_value_outside_secrets() -> None:
    render = render_config(_stack(), resolve_secrets=True, environ=ENV)
    secrets = render.secret_values()
    assert {"drill:pw\\x", "bm-pw:1"} & {s for s in ENV.values()}
    for resource in render.resources:
        for where in (resource.inputs, resource.outputs):
            for path, text in iter_plain_strings(where):
                for value in ("drill:pw\\x", "drill\\:pw\\\\x", "bm-pw:1"):
                    assert value not in text, f"{resource.name} {path}"
    assert any("drill\\:pw\\\\x" in s for s in secrets)


def test_without_password_no_pgpass_block_roles_and_jobs() -> None:
    target = {"hostname": "localhost", "username": "eblume"}
    render = render_config(
        _stack(target=target, expectedCounts=None, roles=True, jobs=3), resolve_secrets=True, environ=ENV
    )
    assert not [r for r in render.of_type(COMMAND) if r.name == "drill-pgpass"]
    drill = render.one("pg-dr:index:RestoreDrill").outputs["renderFiles"]["hosts/indri.tail8d86e.ts.net/pg-dr-drill"]
    assert "--no-roles" not in drill and "--jobs 3" in drill and "--min-count" not in drill


def test_result_parsing() -> None:
    line = RESULT_PREFIX + '{"archive": "a-1", "restoreSeconds": 1.5, "counts": {"public.users": 2}}'
    assert parse_result(f"noise\n{line}\npg-dr drill: inputs changed, runId did not") == {
        "archive": "a-1",
        "restoreSeconds": 1.5,
        "counts": {"public.users": 2},
    }
    assert parse_result(None) == {}


@pytest.mark.parametrize(
    ("drill", "problem"),
    [
        ({"database": None}, "pg-dr:drill.database: required when the drill is enabled"),
        ({"target": None}, "pg-dr:drill.target: required"),
        ({"compareToSource": True}, "pg-dr:drill.compareToSource: removed: every drill now compares each table"),
        ({"jobs": 0}, "pg-dr:drill.jobs: must be >= 1"),
        ({"scratchDatabase": "miniflux"}, "pg-dr:drill.scratchDatabase: must differ from the source database"),
        ({"scratchDatabase": "postgres"}, "pg-dr:drill.scratchDatabase: 'postgres' is a system"),
        ({"sourceHostname": None}, "pg-dr:drill.sourceHostname: *:*/miniflux is ambiguous"),
        ({"database": "other"}, "pg-dr:drill.database: no pg-dr:backup.databases entry matches"),
        ({"repository": "nope"}, "pg-dr:drill.repository: no repository labelled 'nope'"),
        ({"expectedCounts": {"a b": 1}}, "pg-dr:drill.expectedCounts.a b: is not a table name"),
        ({"expectedCounts": {"users": -1}}, "pg-dr:drill.expectedCounts.users: must be >= 0"),
        ({"runId": ""}, "pg-dr:drill.runId"),
    ],
)
def test_config_problems_name_the_key(drill: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(_stack(**drill))
    assert problem in str(err.value)


def test_scratch_may_never_be_a_backed_up_database_on_the_target() -> None:
    config = _stack(
        sourceHostname="localhost",
        target={"hostname": "k8s-pg.tail8d86e.ts.net", "username": "eblume"},
        scratchDatabase="app",
    )
    config["pg-dr:backup"]["databases"].append(
        {
            "name": "app",
            "hostname": "k8s-pg.tail8d86e.ts.net",
            "username": "borgmatic",
            "password": "env:PGDR_BORGMATIC_PASSWORD",
        }
    )
    with pytest.raises(ConfigError) as err:
        _parse(config)
    assert "pg-dr:drill.scratchDatabase: k8s-pg.tail8d86e.ts.net:5432/app is backed up" in str(err.value)


def test_drill_without_backup_is_an_error() -> None:
    config = _stack()
    del config["pg-dr:backup"]
    with pytest.raises(ConfigError) as err:
        _parse(config)
    assert "pg-dr:drill.enabled: the drill restores borgmatic's archives: configure pg-dr:backup" in str(err.value)


def test_only_a_new_run_id_runs_the_drill_again() -> None:
    """An update (any input but runId changed) prints the recorded result; the drill records it on success."""
    render = render_config(_stack(), resolve_secrets=True, environ=ENV)
    run = reveal(render.one(COMMAND, "drill-run").inputs)
    assert run["triggers"] == ["2026-01-19"]
    update = shlex.split(run["update"])[2]
    create = shlex.split(run["create"])[2]
    recorded = f"/Users/erichblume/.local/state/pg-dr/drill-{hashlib.sha256(b'2026-01-19').hexdigest()[:16]}.result"
    assert f"recorded={recorded}" in update and 'cat "$recorded"' in update
    assert f"recorded={recorded}" in create and 'mv -f "$recorded.$$" "$recorded"' in create
    assert "pg_restore" not in update
    other = render_config(_stack(runId="2"), resolve_secrets=True, environ=ENV)
    assert reveal(other.one(COMMAND, "drill-run").inputs)["update"] != run["update"]


def test_a_match_archives_the_drill_cannot_list_with_is_a_config_error() -> None:
    config = _stack()
    config["pg-dr:backup"]["matchArchives"] = "re:^pg-dr-"  # refused by the archive-isolation proof first
    with pytest.raises(ConfigError, match=r"pg-dr:backup.matchArchives: 're:\^pg-dr-' is not a pattern pg-dr can"):
        _parse(config)
    config["pg-dr:backup"]["matchArchives"] = "sh:pg-dr-db-*"
    config["pg-dr:backup"]["archiveNameFormat"] = "pg-dr-db-{now}"
    assert _parse(config).backup.match_archives == "sh:pg-dr-db-*"
