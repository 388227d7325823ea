"""BorgmaticHost under the SDK's mocks: what it registers, how it links, and that no secret leaks."""

from __future__ import annotations

import json
from pathlib import Path

from offline.cli import main
from offline.engine import Secret, iter_plain_strings, reveal
from tests.support.render import render_config, render_stack
from tests.support.stacks import stack

COMMAND = "command:remote:Command"
PASSWORD = "pw:with\\back slash"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-fake-key-material\n-----END OPENSSH PRIVATE KEY-----"
)
ENV = {"PGDR_BORGMATIC_PASSWORD": PASSWORD, "PGDR_SSH_KEY": SSH_KEY, "PGDR_EBLUME_PASSWORD": "eblume-Secret:1"}


def _env_stack() -> dict:
    config = stack(secrets={"provider": "env"})
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:cluster"]["roles"].append(
        {"name": "eblume", "login": True, "superuser": True, "password": "env:PGDR_EBLUME_PASSWORD"}
    )
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PGDR_BORGMATIC_PASSWORD"
    config["pg-dr:backup"]["privateKey"] = "env:PGDR_SSH_KEY"
    return config


def _commands(render) -> dict:
    """BorgmaticHost's remote commands by name (other components may register commands too)."""
    host = render.one("pg-dr:index:BorgmaticHost")
    return {r.name: r for r in render.of_type(COMMAND) if r.parent == host.urn}


def test_children_and_connection() -> None:
    render = render_config(_env_stack(), resolve_secrets=True, environ=ENV)
    component = render.one("pg-dr:index:BorgmaticHost")
    commands = _commands(render)
    assert set(commands) == {
        "borgmatic-preflight",
        "borgmatic-host-check",
        "borgmatic-config",
        "borgmatic-pgpass",
        "borgmatic-schedule",
        "borgmatic-login-wait",
        "borgmatic-verify",
    }
    for command in commands.values():
        assert command.parent == component.urn
        connection = reveal(command.inputs["connection"])
        assert connection["user"] == "erichblume"  # explicit: the provider's default is root
        assert connection["hostKey"].startswith("ssh-ed25519 ")
        assert connection["privateKey"] == SSH_KEY
        assert command.inputs["addPreviousOutputInEnv"] is False
        assert "environment" not in command.inputs
        assert command.inputs["create"].startswith("/bin/sh -c '")
    assert commands["borgmatic-pgpass"].inputs["logging"] == "none"
    assert isinstance(commands["borgmatic-pgpass"].inputs["stdin"], Secret)
    assert "pw\\:with\\\\back slash" in reveal(commands["borgmatic-pgpass"].inputs["stdin"])
    for name in ("borgmatic-config", "borgmatic-pgpass", "borgmatic-schedule"):
        assert commands[name].inputs["delete"].startswith("/bin/sh -c '")
        assert commands[name].inputs["triggers"][0].startswith("/Users/erichblume/")
    assert "delete" not in commands["borgmatic-verify"].inputs  # nothing to undo


def test_no_secret_in_any_command_environment_or_plain_output(tmp_path: Path) -> None:
    render = render_config(_env_stack(), resolve_secrets=True, environ=ENV)
    secrets = {PASSWORD, SSH_KEY, "eblume-Secret:1"}
    # the escaped form libpq reads is a secret too
    secrets |= {s.replace("\\", "\\\\").replace(":", "\\:") for s in secrets}
    assert secrets & render.secret_values() >= {PASSWORD, SSH_KEY}
    for command in _commands(render).values():
        for key in ("create", "update", "delete"):
            text = command.inputs.get(key) or ""
            assert not isinstance(text, Secret)
            assert not any(s in text for s in secrets), f"{command.name}.{key} carries a secret"
        assert not command.inputs.get("environment")
    for r in render.resources:
        for where, value in (("inputs", r.inputs), ("outputs", r.outputs)):
            for path, text in iter_plain_strings(value):
                assert not any(s in text for s in secrets), f"{r.name} {where}.{path} carries a secret"
    for path, text in iter_plain_strings(render.stack_outputs):
        assert not any(s in text for s in secrets), f"stack output {path} carries a secret"
    for name, text in render.render_files().items():
        assert not any(s in text for s in secrets), f"{name} carries a secret"


def test_unchanged_config_renders_identical_inputs_and_triggers() -> None:
    """Same config, same inputs: the engine sees no diff, so nothing runs on the next up."""
    first = _commands(render_config(_env_stack(), resolve_secrets=True, environ=ENV))
    second = _commands(render_config(_env_stack(), resolve_secrets=True, environ=ENV))
    for name, command in first.items():
        assert json.dumps(reveal(command.inputs), sort_keys=True) == json.dumps(
            reveal(second[name].inputs), sort_keys=True
        )
    changed = _env_stack()
    changed["pg-dr:backup"]["retention"] = {"keepDaily": 3}
    third = _commands(render_config(changed, resolve_secrets=True, environ=ENV))
    assert third["borgmatic-config"].inputs["triggers"] != first["borgmatic-config"].inputs["triggers"]
    assert third["borgmatic-pgpass"].inputs["triggers"] == first["borgmatic-pgpass"].inputs["triggers"]
    assert third["borgmatic-verify"].inputs["triggers"] != first["borgmatic-verify"].inputs["triggers"]
    rotated = {**ENV, "PGDR_BORGMATIC_PASSWORD": "rotated"}
    fourth = _commands(render_config(_env_stack(), resolve_secrets=True, environ=rotated))
    assert reveal(fourth["borgmatic-pgpass"].inputs["triggers"]) != reveal(first["borgmatic-pgpass"].inputs["triggers"])
    assert fourth["borgmatic-config"].inputs["triggers"] == first["borgmatic-config"].inputs["triggers"]


def test_verify_runs_after_acl_role_secret_cluster_and_deliveries(tmp_path: Path) -> None:
    assert main(["render", "prod", "--out", str(tmp_path)]) == 0
    graph = json.loads((tmp_path / "graph.json").read_text())
    verify = next(r for r in graph["resources"] if r["name"] == "borgmatic-verify")
    assert set(verify["dependencies"]) >= {
        "tailscale:index/acl:Acl::tailnet-policy",
        "kubernetes:core/v1:Secret::blumeops-pg-borgmatic",
        "kubernetes:postgresql.cnpg.io/v1:ClusterPatch::blumeops-pg",  # the roles, once applied
        "command:remote:Command::borgmatic-preflight",
        "command:remote:Command::borgmatic-config",
        "command:remote:Command::borgmatic-pgpass",
        "command:remote:Command::borgmatic-schedule",
    }
    assert "kubernetes:core/v1:Secret::blumeops-pg-eblume" not in verify["dependencies"]  # not a backup role
    host = tmp_path / "hosts" / "indri.tail8d86e.ts.net"
    files = sorted(p.name for p in host.iterdir() if p.is_file())  # scripts/: the review copies (offline)
    assert files == ["borgmatic.yaml", "io.pg-dr.borgmatic.plist", "pg-dr-restore", "pgpass"]
    assert "borgmatic:[redacted]" in (host / "pgpass").read_text()


def test_unmanaged_tailnet_and_database_role_mode() -> None:
    config = stack()
    config["pg-dr:tailnet"]["manage"] = False
    config["pg-dr:cluster"]["mode"] = "databaseRole"
    render = render_config(config)
    verify = render.one(COMMAND, "borgmatic-verify")
    deps = {render.by_urn(u).name for u in verify.dependencies if any(r.urn == u for r in render.resources)}
    assert {"blumeops-pg-borgmatic", "borgmatic-config", "borgmatic-pgpass"} <= deps
    assert not render.of_type("tailscale:index/acl:Acl")
    role = next(r for r in render.resources if r.type.endswith("DatabaseRole") and r.name == "blumeops-pg-borgmatic")
    assert role.urn in verify.dependencies


def test_verify_off_schedule_none_and_agent_auth() -> None:
    config = stack()
    config["pg-dr:backup"].update(verify=False, schedule={"kind": "none"})
    render = render_config(config)
    assert set(_commands(render)) == {
        "borgmatic-preflight",
        "borgmatic-host-check",
        "borgmatic-config",
        "borgmatic-pgpass",
    }
    connection = reveal(render.one(COMMAND, "borgmatic-config").inputs["connection"])
    assert "privateKey" not in connection  # the provider then uses the SSH agent (SSH_AUTH_SOCK)


def test_dev_stack_warns_about_the_unpinned_host_key() -> None:
    render = render_stack("dev")
    assert any("insecureIgnoreHostKey is true" in w for w in render.warnings)
    connection = reveal(render.one(COMMAND, "borgmatic-config").inputs["connection"])
    assert "hostKey" not in connection and connection["user"] == "pgdr"
    assert set(_commands(render)) == {
        "borgmatic-preflight",
        "borgmatic-host-check",
        "borgmatic-config",
        "borgmatic-pgpass",
        "borgmatic-schedule-service",
        "borgmatic-schedule-timer",
        "borgmatic-login-wait",
        "borgmatic-verify",
        "borgmatic-report",  # the run lock the scheduled drill (on by default with the drill) shares
    }
    assert not render_stack("prod").warnings


def test_every_delivery_waits_for_the_host_check() -> None:
    render = render_stack("prod")
    commands = _commands(render)
    check = commands["borgmatic-host-check"]
    assert check.dependencies == [commands["borgmatic-preflight"].urn]
    for name in ("borgmatic-config", "borgmatic-pgpass", "borgmatic-schedule", "borgmatic-verify"):
        assert check.urn in commands[name].dependencies, name
    script = check.inputs["create"]
    assert "file pg-dr:backup.configPath /Users/erichblume/.config/borgmatic.d/pg-dr.yaml" in script
    assert "existing_runs_its_own launchd mcquack.eblume.borgmatic" in script
    # re-run when the config, the schedule or the adopt decision changes
    changed = stack()
    changed["pg-dr:backup"]["adoptExisting"] = True
    triggers = _commands(render_config(changed))["borgmatic-host-check"].inputs["triggers"]
    assert triggers != _commands(render_config(stack()))["borgmatic-host-check"].inputs["triggers"]


def test_verify_waits_bounded_for_cnpg_to_apply_the_backup_role() -> None:
    render = render_stack("prod")
    commands = _commands(render)
    wait = commands["borgmatic-login-wait"]
    patch = render.one("kubernetes:postgresql.cnpg.io/v1:ClusterPatch")
    secret = render.one("kubernetes:core/v1:Secret", "blumeops-pg-borgmatic")
    assert {patch.urn, secret.urn, commands["borgmatic-pgpass"].urn} <= set(wait.dependencies)
    assert wait.urn in commands["borgmatic-verify"].dependencies
    script = wait.inputs["create"]
    assert "limit=300\n" in script
    # only the database the cluster serves, with the delivered pgpass file
    assert "pg-dr:backup.databases[1]" in script and "' k8s-pg.tail8d86e.ts.net 5432 borgmatic miniflux\n" in script
    assert "databases[0]" not in script
    assert "PGPASSFILE=/Users/erichblume/.config/pg-dr/pgpass /opt/homebrew/opt/postgresql@18/bin/psql" in script
    # a rotated password (the pgpass block changes) re-runs the wait
    assert wait.inputs["triggers"][-1] == commands["borgmatic-verify"].inputs["triggers"][-1]
    off = stack()
    off["pg-dr:backup"]["loginWaitSeconds"] = 0
    assert "borgmatic-login-wait" not in _commands(render_config(off))
