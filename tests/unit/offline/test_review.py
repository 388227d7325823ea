"""The human review of a render: summary.md, every remote script readable, the connection visible but its key."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_command import remote

from components.project import PROJECT_DIR
from offline.cli import main
from offline.output import render_texts, write_render
from offline.review import review_files, summary
from tests.support.render import render_config, run_program
from tests.unit.offline.conftest import project_stack

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n"
)
PASSWORD = "Rev1ew-secret-pw"


def _env_stack() -> dict:
    config = project_stack()
    config["pg-dr:secrets"] = {"provider": "env"}
    config["pg-dr:backup"]["privateKey"] = "env:PG_DR_SSH_KEY"
    config["pg-dr:backup"]["port"] = 2222
    config["pg-dr:cluster"]["roles"][0]["password"] = "env:PG_DR_PW"
    for db in config["pg-dr:backup"]["databases"]:
        db["password"] = "env:PG_DR_PW"
    return config


def _resolved():
    return render_config(
        _env_stack(), resolve_secrets=True, environ={"PG_DR_SSH_KEY": PRIVATE_KEY, "PG_DR_PW": PASSWORD}
    )


def test_every_remote_script_is_a_readable_file_equal_to_what_is_sent() -> None:
    render = render_config(project_stack())
    files = review_files(render)
    commands = [r for r in render.resources if r.type == "command:remote:Command"]
    assert commands
    for r in commands:
        for phase, suffix in (("create", ""), ("delete", ".delete")):
            path = f"hosts/indri.tail8d86e.ts.net/scripts/{r.name}{suffix}.sh"
            if phase not in r.inputs:
                assert path not in files
                continue
            text = files[path]
            header, body = text.split("\n\n", 1)
            assert header.startswith(f"#!/bin/sh\n# pg-dr render: command:remote:Command {r.name} ({phase})\n")
            assert "# Runs when the resource is " + ("created" if phase == "create" else "deleted") in header
            assert "# On erichblume@indri.tail8d86e.ts.net port 22" in header
            # the body is exactly the script the provider runs: /bin/sh -c '<body>'
            assert shlex.split(r.inputs[phase]) == ["/bin/sh", "-c", body]
            assert "'\"'\"'" not in body, "shell quoting undone"
    pgpass = files["hosts/indri.tail8d86e.ts.net/scripts/borgmatic-pgpass.sh"]
    assert "stdin: secret (not shown)" in pgpass


def test_connection_host_user_port_and_pin_shown_private_key_never(tmp_path: Path) -> None:
    render = _resolved()
    written = write_render(render, tmp_path / "out")
    graph = json.loads((tmp_path / "out" / "graph.json").read_text())
    verify = next(r for r in graph["resources"] if r["name"] == "borgmatic-verify")
    connection = verify["inputs"]["connection"]
    assert connection["host"] == "indri.tail8d86e.ts.net"
    assert connection["user"] == "erichblume" and connection["port"] == 2222
    assert connection["hostKey"].startswith("ssh-ed25519 ")
    assert connection["privateKey"] == "[secret]"
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "- connection: `erichblume@indri.tail8d86e.ts.net` port 2222, host key `ssh-ed25519 " in text
    assert "- authentication: private key (a secret, not shown)" in text
    for path in written:
        content = path.read_text()
        assert "b3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleQ" not in content and PASSWORD not in content, path


def test_summary_lists_resources_by_component_hosts_and_warnings() -> None:
    config = project_stack()
    del config["pg-dr:backup"]["hostKey"]
    config["pg-dr:backup"]["insecureIgnoreHostKey"] = True
    text = summary(render_config(config))
    assert text.startswith("# pg-dr render: stack `test` of project `pg-dr`\n")
    warnings = text.split("## Warnings\n\n", 1)[1].split("\n\n", 1)[0]
    assert warnings.startswith("- pg-dr:backup.insecureIgnoreHostKey is true")
    resources = text.split("## Resources by component\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    cnpg = resources.index("- `pg-dr:index:CnpgRoles` **cnpg**")
    assert resources[cnpg + 1 : cnpg + 3] == [
        "  - `kubernetes:core/v1:Secret` **blumeops-pg-borgmatic**",
        "  - `kubernetes:postgresql.cnpg.io/v1:Cluster` **blumeops-pg** (protect, retainOnDelete)",
    ]
    assert "host key **not pinned** (no host key is checked)" in text
    row = next(line for line in text.splitlines() if line.startswith("| borgmatic-config |"))
    assert row == (
        "| borgmatic-config | `/Users/erichblume/.config/borgmatic.d/pg-dr.yaml` | 46 lines | "
        "`scripts/borgmatic-config.sh`, `scripts/borgmatic-config.delete.sh` |"
    )


def test_default_providers_show_their_stack_config_credentials_hidden() -> None:
    text = summary(
        render_config(project_stack()),
        {"kubernetes:context": "kind-pg-dr", "kubernetes:kubeconfig": "apiVersion: v1 ...", "tailscale:apiKey": "k"},
    )
    providers = text.split("## Providers\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert providers[0].startswith("- `pulumi:providers:kubernetes` **cnpg-k8s** (used by 2 resources): ")
    assert 'enableSecretMutable=`"true"`' in providers[0]  # a switch named "secret", shown: it is no credential
    # every Kubernetes object is on the explicit provider: the default one is not used, so not listed
    assert providers[1:] == ["- `command`: default provider; no stack config keys"]
    assert "apiVersion: v1" not in text


def test_explicit_provider_resources_show_their_settings_and_users() -> None:
    def program() -> None:
        provider = k8s.Provider("homelab", context="kind-pg-dr", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
        k8s.core.v1.ConfigMap(
            "cm", metadata={"name": "cm"}, data={"a": "b"}, opts=pulumi.ResourceOptions(provider=provider)
        )

    text = summary(run_program(program))
    providers = text.split("## Providers\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(providers) == 1
    line = providers[0]
    assert line.startswith("- `pulumi:providers:kubernetes` **homelab** (used by 1 resources): ")
    assert 'context=`"kind-pg-dr"`' in line and 'kubeconfig=`"[secret]"`' in line
    assert "apiVersion: v1" not in text


def test_review_files_go_through_the_secret_check() -> None:
    render = _resolved()
    texts = render_texts(render)
    assert {"summary.md", "hosts/indri.tail8d86e.ts.net/scripts/borgmatic-pgpass.sh"} <= {p.as_posix() for p in texts}
    assert not any(PASSWORD in t or "c2VjcmV0LWtleQ" in t for t in texts.values())


def test_a_command_not_run_by_sh_c_is_written_as_sent() -> None:
    def program() -> None:
        remote.Command("plain", connection={"host": "h.example", "user": "u"}, create="echo 'hi there'")

    text = review_files(run_program(program))["hosts/h.example/scripts/plain.sh"]
    assert "# On u@h.example port 22, the command string as sent (run by the login shell); stdin: none." in text
    assert text.endswith("\n\necho 'hi there'\n")


def test_promotion_diff_shows_which_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "dev", "prod"]) == 1
    out = capsys.readouterr().out
    assert '      inputs.connection.host: "localhost" -> "indri.tail8d86e.ts.net"' in out
    assert '      inputs.connection.user: "pgdr" -> "erichblume"' in out


# ------------------------------------------------------------------------------ what `pulumi up` does
def _section(text: str, heading: str) -> list[str]:
    return text.split(f"{heading}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_summary_says_what_up_does_in_order_for_the_prod_stack() -> None:
    from offline.engine import load_stack_file
    from tests.support.render import render_stack

    provider_config = {k: v for k, v in load_stack_file(PROJECT_DIR, "prod").items() if ":" in k}
    text = summary(render_stack("prod"), provider_config, environ={"OP_SERVICE_ACCOUNT_TOKEN": "set"})
    headings = [
        "## What `pulumi up` does",
        "### 1. Created",
        "### 2. Imported (adopted: the existing object is taken over, never created over)",
        "### 3. Patched (fields of an object another tool owns)",
        "### 4. Runs on the backup host",
        "### 5. Tailnet",
        "### 6. Credentials `pulumi up` needs (names only; checked in the shell that rendered)",
        "## Providers",
    ]
    positions = [text.index(f"\n{h}\n") for h in headings]
    assert positions == sorted(positions) and text.index("## Warnings") < positions[0]
    assert _section(text, "### 2. Imported (adopted: the existing object is taken over, never created over)") == [
        *(
            f"- `kubernetes:core/v1:Secret` **blumeops-pg-{role}**, id `databases/blumeops-pg-{role}`: read at "
            "preview, refused if its data, type or spec (outside the roles) differs from the declaration; pg-dr's "
            "labels are added in the same `up`"
            for role in ("borgmatic", "eblume")
        ),
        "- `tailscale:index/acl:Acl` **tailnet-policy**, id `acl`: the live policy is read and the merge applied to "
        "it as an update in the same `up` (never a 412)",
    ]
    created = _section(text, "### 1. Created")
    commands = [line.split("`")[1] for line in created if line.startswith("  - ")]
    assert commands == [
        "borgmatic-preflight",
        "borgmatic-host-check",
        "borgmatic-config",
        "borgmatic-pgpass",
        "borgmatic-schedule",
        "borgmatic-login-wait",
        "borgmatic-verify",
        "restore-command",
    ]
    assert (
        "  - `borgmatic-pgpass` on `indri.tail8d86e.ts.net`: puts its block (`# BEGIN pg-dr ...`) into "
        in "\n".join(created)
    )
    assert _section(text, "### 3. Patched (fields of an object another tool owns)") == [
        "- `kubernetes:postgresql.cnpg.io/v1:ClusterPatch` **blumeops-pg**: `spec.managed.roles`, field manager `pg-dr`"
    ]
    on_host = _section(text, "### 4. Runs on the backup host")
    assert on_host[0].startswith("- `borgmatic-verify`: **runs a real `borgmatic create` on `indri.tail8d86e.ts.net`**")
    assert "up to **300 s**" in on_host[1] and "nothing listening fails after 15 s" in on_host[1]
    assert _section(text, "### 5. Tailnet")[0] == (
        "- grant added: `tag:homelab` -> `tag:k8s` on `tcp:5432`, with its policy test"
    )
    credentials = _section(
        text, "### 6. Credentials `pulumi up` needs (names only; checked in the shell that rendered)"
    )
    by_name = {line.split(":", 1)[0]: line for line in credentials}
    assert "not set" not in by_name["- `OP_SERVICE_ACCOUNT_TOKEN`"]  # set in the given environment
    assert by_name[
        "- `TAILSCALE_API_KEY`, or `TAILSCALE_OAUTH_CLIENT_ID` and `TAILSCALE_OAUTH_CLIENT_SECRET`"
    ].endswith("**not set in this shell**")
    assert by_name["- `SSH_AUTH_SOCK`"].endswith("**not set in this shell**")
    assert "kubeconfig (`KUBECONFIG`, else `~/.kube/config`) with the context `blumeops`" in text


def test_summary_names_every_env_reference_and_no_value() -> None:
    text = summary(_resolved(), {"pg-dr:backup": {"privateKey": "env:PG_DR_SSH_KEY"}}, environ={"PG_DR_PW": PASSWORD})
    credentials = _section(
        text, "### 6. Credentials `pulumi up` needs (names only; checked in the shell that rendered)"
    )
    assert "- `PG_DR_SSH_KEY`: the secret `env:PG_DR_SSH_KEY` - **not set in this shell**" in credentials
    assert not any("SSH_AUTH_SOCK" in line for line in credentials)  # a private key is configured
    assert PASSWORD not in text and "b3BlbnNzaC1rZXk" not in text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(["'", '"', "\\", " ", "\n", "a", "$", "`", "\t"]) | st.characters()))
def test_the_fast_unquoting_of_a_sent_command_equals_the_shells(script: str) -> None:
    """review._split's shortcut for ``/bin/sh -c '<script>'`` gives what shlex (a POSIX shell's words) gives."""
    from components.remote.shell import sh_command
    from offline.review import _split

    text = sh_command(script)
    assert _split(text) == shlex.split(text)
    assert _split("/bin/sh -c 'a'\\''b'") == shlex.split("/bin/sh -c 'a'\\''b'")  # another quoting: shlex
