"""The human review of a render: ``summary.md`` and every remote script as a readable file.

``graph.json`` is complete but made for tools (and ``pg-dr diff``); this is what a person reads before
``pulumi up``: the resources by component, what goes to which host over which connection, the provider
settings and the warnings. Each ``command:remote:Command`` script is written as
``hosts/<host>/scripts/<resource>.sh`` (``.delete.sh``, ``.update.sh`` for the other phases), unquoted
from the ``/bin/sh -c '...'`` string the provider sends, with a header saying when it runs.

Only values the program did not mark secret are shown, with one exception made on purpose: an SSH
connection is secret as a whole because its private key is, so its host, port, user and pinned host key
are shown (they are plain stack config) and every other connection field as ``[secret]``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.keypath import leaves
from offline.engine import REDACTED, RegisteredResource, Render, Secret, redact, reveal

REMOTE_COMMAND = "command:remote:Command"
PROVIDER_PREFIX = "pulumi:providers:"
# Connection fields that are plain stack config; anything else in a connection (private key, password,
# passphrase, proxy credentials) stays "[secret]".
CONNECTION_PLAIN = ("host", "port", "user", "hostKey", "agentSocketPath", "dialErrorLimit", "perDialTimeout")
SENSITIVE = re.compile(r"kubeconfig|token|secret|password|passphrase|credential|apikey|privatekey", re.IGNORECASE)
PHASES = ("create", "update", "delete")
WHEN = {
    "create": (
        "when the resource is created or replaced (a `triggers` value changed); without an update",
        "command pulumi-command also re-runs it on any other input change.",
    ),
    "update": ("when an input other than `triggers` changes.",),
    "delete": ("when the resource is deleted or replaced (the old resource's delete, at the end of the run).",),
}


def connection_view(value: Any) -> Any:
    """A remote command's connection with its plain fields shown and everything else ``[secret]``."""
    if value is None:
        return None
    plain = reveal(value)
    if not isinstance(plain, Mapping):
        return redact(value)
    shown: dict[str, Any] = {}
    for key in sorted(plain):
        if key in CONNECTION_PLAIN and not isinstance(plain[key], (Mapping, list)):
            shown[key] = plain[key]
        else:
            shown[key] = REDACTED
    return shown


@dataclass(frozen=True)
class _Command:
    resource: RegisteredResource
    host: str
    connection: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.resource.name

    def script(self, phase: str) -> str | None:
        """The phase's script: the ``-c`` argument of ``/bin/sh -c '...'``, else the command string itself."""
        command = self.resource.inputs.get(phase)
        if command is None or isinstance(command, Secret):
            return None if command is None else REDACTED
        argv = _split(str(command))
        return argv[2] if _is_sh_c(argv) else str(command)

    def runs_as_sh_c(self, phase: str) -> bool:
        command = self.resource.inputs.get(phase)
        return isinstance(command, str) and _is_sh_c(_split(command))

    def script_file(self, phase: str) -> str:
        suffix = "" if phase == "create" else f".{phase}"
        return f"hosts/{self.host}/scripts/{self.name}{suffix}.sh"

    def targets(self) -> list[str]:
        """Files the create script writes: its ``target=<path>`` assignments."""
        found = []
        for line in (self.script("create") or "").splitlines():
            if line.startswith("target="):
                words = _split(line[len("target=") :])
                if words and len(words) == 1:
                    found.append(words[0])
        return found

    def stdin(self) -> str:
        stdin = self.resource.inputs.get("stdin")
        if stdin is None:
            return "none"
        if isinstance(stdin, Secret):
            return "secret (not shown)"
        return f"{len(str(stdin).splitlines())} lines"


def _is_sh_c(argv: list[str] | None) -> bool:
    return argv is not None and len(argv) == 3 and argv[0] in ("/bin/sh", "sh") and argv[1] == "-c"


_SH_C = re.compile(r"(/bin/sh|sh) -c '((?:[^']|'\"'\"')*)'")


def _split(text: str) -> list[str] | None:
    """``text`` split as the shell would. The command strings pg-dr sends (``/bin/sh -c '<script>'``, quoted by
    ``shlex.quote``) are unquoted directly: ``shlex.split`` reads character by character, seconds for the
    restore command's script."""
    sh_c = _SH_C.fullmatch(text)
    if sh_c is not None:
        return [sh_c.group(1), "-c", sh_c.group(2).replace("'\"'\"'", "'")]
    try:
        return shlex.split(text)
    except ValueError:
        return None


def _commands(render: Render) -> list[_Command]:
    commands = []
    for r in sorted(render.resources, key=lambda r: r.name):
        if r.type != REMOTE_COMMAND:
            continue
        connection = connection_view(r.inputs.get("connection")) or {}
        host = connection.get("host") if isinstance(connection, Mapping) else None
        host = host if isinstance(host, str) and host and host != REDACTED and "/" not in host else "unknown-host"
        commands.append(_Command(r, host, connection if isinstance(connection, Mapping) else {}))
    return commands


def _header(command: _Command, phase: str) -> str:
    c = command.connection
    how = "as /bin/sh -c" if command.runs_as_sh_c(phase) else "the command string as sent (run by the login shell)"
    lines = [
        f"# pg-dr render: {REMOTE_COMMAND} {command.name} ({phase})",
        f"# Runs {WHEN[phase][0]}",
        *(f"# {line}" for line in WHEN[phase][1:]),
        f"# On {c.get('user', 'root')}@{command.host} port {c.get('port', 22)}, {how}; stdin: {command.stdin()}.",
        "# A review copy: pulumi-command sends this script quoted as one command string (see graph.json).",
    ]
    return "\n".join(lines) + "\n"


def script_files(render: Render) -> dict[str, str]:
    """Every remote command's scripts by relative path, each with its header."""
    files: dict[str, str] = {}
    for command in _commands(render):
        for phase in PHASES:
            script = command.script(phase)
            if script is None:
                continue
            body = script if script.endswith("\n") else script + "\n"
            files[command.script_file(phase)] = "#!/bin/sh\n" + _header(command, phase) + "\n" + body
    return files


# ------------------------------------------------------------------------------------------ summary
def _label(r: RegisteredResource) -> str:
    flags = [flag for flag, on in (("protect", r.protect), ("retainOnDelete", r.retain_on_delete)) if on]
    return f"`{r.type}` **{r.name}**" + (f" ({', '.join(flags)})" if flags else "")


def _resources(render: Render) -> list[str]:
    children: dict[str | None, list[RegisteredResource]] = defaultdict(list)
    urns = {r.urn for r in render.resources}
    for r in render.resources:
        children[r.parent if r.parent in urns else None].append(r)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children[parent], key=lambda r: (r.type, r.name)):
            lines.append(f"{'  ' * depth}- {_label(r)}")
            walk(r.urn, depth + 1)

    walk(None, 0)
    return lines


def shown_setting(key: str, value: Any) -> Any:
    """A provider setting as a review may show it: credentials by name (kubeconfig, tokens, keys) redacted."""
    name = key.rsplit(":", 1)[-1]
    flag = value in (True, False, "true", "false")  # a switch (enableSecretMutable) is never a credential
    if (SENSITIVE.search(name) and not flag) or (isinstance(value, Mapping) and set(value) == {"secure"}):
        return REDACTED
    return redact(value)


def _setting(key: str, value: Any) -> str:
    return f"{key}=`{json.dumps(shown_setting(key, value), sort_keys=True)}`"


def _providers(render: Render, provider_config: Mapping[str, Any]) -> list[str]:
    providers = [r for r in render.resources if r.type.startswith(PROVIDER_PREFIX)]
    used: dict[str, int] = defaultdict(int)
    for r in render.resources:
        ref = (r.options or {}).get("provider")
        if ref:
            used[str(ref).rsplit("::", 1)[0]] += 1  # a provider reference is "<urn>::<id>"
    lines = []
    for p in sorted(providers, key=lambda p: (p.type, p.name)):
        settings = ", ".join(_setting(k, v) for k, v in sorted(p.inputs.items())) or "(defaults)"
        lines.append(f"- `{p.type}` **{p.name}** (used by {used.get(p.urn, 0)} resources): {settings}")
    packages = sorted({r.type.split(":", 1)[0] for r in render.resources if r.custom} - {"pulumi"})
    explicit = {p.type[len(PROVIDER_PREFIX) :] for p in providers}
    for package in packages:
        if package in explicit:
            continue
        keys = {k: v for k, v in provider_config.items() if k.split(":", 1)[0] == package}
        settings = ", ".join(_setting(k, v) for k, v in sorted(keys.items())) or "no stack config keys"
        lines.append(f"- `{package}`: default provider; {settings}")
    return lines or ["- none"]


def _hosts(commands: list[_Command]) -> list[str]:
    lines: list[str] = []
    by_host: dict[str, list[_Command]] = defaultdict(list)
    for command in commands:
        by_host[command.host].append(command)
    for host in sorted(by_host):
        group = by_host[host]
        connections = sorted({json.dumps(c.connection, sort_keys=True) for c in group})
        lines.append(f"### {host}")
        lines.append("")
        for text in connections:
            c = json.loads(text)
            key = f"`{c['hostKey']}`" if c.get("hostKey") else "**not pinned** (no host key is checked)"
            if "privateKey" in c:
                auth = "private key (a secret, not shown)"
            elif c.get("agentSocketPath"):
                auth = f"SSH agent at `{c['agentSocketPath']}`"
            else:
                auth = "the SSH agent (`SSH_AUTH_SOCK`)"
            lines.append(f"- connection: `{c.get('user', 'root')}@{host}` port {c.get('port', 22)}, host key {key}")
            lines.append(f"- authentication: {auth}")
        lines.append("")
        lines.append("| command | writes | stdin | scripts |")
        lines.append("|---|---|---|---|")
        for command in group:
            scripts = ", ".join(
                f"`{command.script_file(phase).split(f'hosts/{host}/', 1)[1]}`"
                for phase in PHASES
                if command.script(phase) is not None
            )
            writes = ", ".join(f"`{t}`" for t in command.targets()) or "-"
            lines.append(f"| {command.name} | {writes} | {command.stdin()} | {scripts} |")
        lines.append("")
    return lines or ["none", ""]


def _monitoring(render: Render) -> list[str]:
    """Where the nights report (the components' ``reportsTo`` outputs: services and hosts, no secret part)."""
    lines = []
    for output, what in (("backup", "the backup"), ("drillSchedule", "the scheduled drill")):
        value = reveal(render.stack_outputs.get(output))
        if not isinstance(value, Mapping) or "reportsTo" not in value:
            continue
        targets = reveal(value["reportsTo"]) or []
        lines.append(
            f"- {what} reports to " + ("; ".join(str(t) for t in targets) if targets else "nothing (no monitoring)")
        )
    return lines or ["- nothing is scheduled"]


# ------------------------------------------------------------------------------ what `pulumi up` does
PASSPHRASE_VARIABLES = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
OP_TOKEN = "OP_SERVICE_ACCOUNT_TOKEN"
TAILSCALE_KEY = "TAILSCALE_API_KEY"
TAILSCALE_OAUTH = ("TAILSCALE_OAUTH_CLIENT_ID", "TAILSCALE_OAUTH_CLIENT_SECRET")
SSH_AGENT = "SSH_AUTH_SOCK"
# Every variable the credentials list may look at (besides the stack's own `env:` references).
CREDENTIAL_VARIABLES = (*PASSPHRASE_VARIABLES, OP_TOKEN, TAILSCALE_KEY, *TAILSCALE_OAUTH, SSH_AGENT)
_SCRIPT_SETTING = re.compile(r"^(limit|grace)=([0-9]+)$", re.MULTILINE)


def _short(r: RegisteredResource) -> str:
    return f"`{r.type}` **{r.name}**"


def _patched_fields(inputs: Mapping[str, Any]) -> list[str]:
    """The dotted paths a patch sets (down to the first list or value), metadata aside."""
    paths: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping) and value:
            for key in sorted(value):
                walk(value[key], f"{path}.{key}" if path else key)
        else:
            paths.append(path)

    walk({k: v for k, v in reveal(inputs).items() if k not in ("apiVersion", "kind", "metadata")}, "")
    return paths


# What a command does, by the suffix of its name (components/borgmatic, components/drill), when it writes no file.
DOES = {
    "-preflight": "checks that every configured binary is an executable that answers --version",
    "-host-check": "refuses, before anything is written, a file at pg-dr's paths that pg-dr did not write",
    "-login-wait": "waits until each cluster database accepts its login (see 4.)",
    "-verify": "runs `borgmatic create` and checks the archive (see 4.)",
    "-run": "the restore drill (see 4.)",
}


# The order the commands run in (their dependencies), by name part; anything else after them.
RUN_ORDER = ("preflight", "host-check", "config", "pgpass", "schedule", "login-wait", "verify", "drill-")


def _run_order(command: _Command) -> tuple[int, int, str]:
    drill = command.name.startswith("drill-")
    rank = next((i for i, part in enumerate(RUN_ORDER) if part in command.name), len(RUN_ORDER))
    return int(drill), rank, command.name


def _what_it_does(command: _Command) -> str:
    files = ", ".join(f"`{t}`" for t in command.targets())
    if files and "pgpass" in command.name:
        return f"puts its block (`# BEGIN pg-dr ...`) into {files} (other lines kept)"
    if files:
        return f"writes {files} (the previous version kept in its history)"
    return next((does for suffix, does in DOES.items() if command.name.endswith(suffix)), "runs its script")


def _import_note(r: RegisteredResource) -> str:
    """What importing ``r`` does: Pulumi >= 3.174 reads the live object and applies every difference as an
    update in the same ``up`` (docs/brownfield.md)."""
    if r.type.startswith("kubernetes:"):
        return (
            "read at preview, refused if its data, type or spec (outside the roles) differs from the declaration; "
            "pg-dr's labels are added in the same `up`"
        )
    if r.type == "tailscale:index/acl:Acl":
        return "the live policy is read and the merge applied to it as an update in the same `up` (never a 412)"
    return "the live object is read and every difference applied as an update in the same `up`"


def _changes(render: Render) -> list[str]:
    custom = [r for r in render.resources if r.custom and not r.type.startswith(PROVIDER_PREFIX)]
    imported = [r for r in custom if (r.options or {}).get("importId")]
    patched = [r for r in custom if r.type.endswith("Patch") and r not in imported]
    commands = [r for r in custom if r.type == REMOTE_COMMAND]
    created = [r for r in custom if r not in imported and r not in patched and r not in commands]
    lines = ["### 1. Created", ""]
    lines += [f"- {_short(r)}" for r in sorted(created, key=lambda r: (r.type, r.name))] or ["- nothing"]
    hosts = sorted({c.host for c in _commands(render)})
    if commands:
        lines.append(
            f"- {len(commands)} `{REMOTE_COMMAND}` run over SSH on {', '.join(f'`{h}`' for h in hosts)} "
            "(each below under Hosts, its scripts in `hosts/<host>/scripts/`):"
        )
        for command in sorted(_commands(render), key=_run_order):
            lines.append(f"  - `{command.name}` on `{command.host}`: {_what_it_does(command)}")
    lines += ["", "### 2. Imported (adopted: the existing object is taken over, never created over)", ""]
    lines += [
        f"- {_short(r)}, id `{r.options['importId']}`: {_import_note(r)}"
        for r in sorted(imported, key=lambda r: (r.type, r.name))
    ] or ["- nothing"]
    lines += ["", "### 3. Patched (fields of an object another tool owns)", ""]
    for r in sorted(patched, key=lambda r: (r.type, r.name)):
        annotations = ((reveal(r.inputs).get("metadata") or {}).get("annotations")) or {}
        manager = annotations.get("pulumi.com/patchFieldManager")
        fields = ", ".join(f"`{f}`" for f in _patched_fields(r.inputs))
        lines.append(f"- {_short(r)}: {fields}" + (f", field manager `{manager}`" if manager else ""))
    if not patched:
        lines.append("- nothing")
    return lines


def _on_hosts(render: Render) -> list[str]:
    lines: list[str] = []

    def order(c: _Command) -> tuple[int, str]:  # the backup, then what precedes it, then the rest
        return (0 if c.name.endswith("-verify") else 1 if c.name.endswith("-login-wait") else 2), c.name

    for command in sorted(_commands(render), key=order):
        script = command.script("create") or ""
        settings = dict(_SCRIPT_SETTING.findall(script))
        where = f"on `{command.host}`"
        if command.name.endswith("-verify") and "create" in script:
            lines.append(
                f"- `{command.name}`: **runs a real `borgmatic create` {where}** during `up` (a backup of every "
                "configured database into its repositories), then checks each dump is in the latest archive"
            )
        elif command.name.endswith("-login-wait") and "limit" in settings:
            lines.append(
                f"- `{command.name}`: before it, waits {where} up to **{settings['limit']} s** for each cluster "
                f"database to accept its login (`pg-dr:backup.loginWaitSeconds`); nothing listening fails after "
                f"{settings.get('grace', settings['limit'])} s"
            )
        elif command.name.endswith("-run") and "pg_restore" in script:
            lines.append(
                f"- `{command.name}`: the restore drill {where}: restores the latest archive's dump into a scratch "
                "database, compares row counts, drops it"
            )
    return lines or ["- no backup or drill runs during `up`"]


def _tailnet(render: Render) -> list[str]:
    lines: list[str] = []
    for component in (r for r in render.resources if r.type == "pg-dr:index:TailnetPolicy"):
        outputs = reveal(component.outputs)
        for grant in outputs.get("generatedGrants") or []:
            lines.append(
                f"- grant added: `{', '.join(grant.get('src', []))}` -> `{', '.join(grant.get('dst', []))}` "
                f"on `{', '.join(grant.get('ip', []))}`, with its policy test"
            )
        if not outputs.get("generatedGrants"):
            lines.append("- no grant added (no backup database has a `tailnetTag`)")
        if outputs.get("managed"):
            lines.append(
                f"- the merged policy replaces the tailnet's whole policy document (`tailnet/policy.hujson`, from "
                f"`{outputs.get('policyFile')}`)"
            )
        else:
            lines.append("- nothing is sent to Tailscale (`manage: false`): the policy is only merged and validated")
    return lines or ["- no TailnetPolicy"]


def _strings(value: Any) -> list[str]:
    return [leaf for _, leaf in leaves(value) if isinstance(leaf, str)]


def _credentials(render: Render, provider_config: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """What ``pulumi up`` needs in its environment, by name only, and whether this shell has it."""
    project = {k: v for k, v in provider_config.items() if k.startswith(f"{render.project}:")}
    refs = sorted(set(_strings(project)))
    secrets = project.get(f"{render.project}:secrets") or {}
    needs: list[tuple[str, str, bool]] = []  # (names, what for, set in this shell)
    needs.append(
        (
            " or ".join(f"`{n}`" for n in PASSPHRASE_VARIABLES),
            "the stack's secrets, with the passphrase secrets provider (`pulumi login --local` or a bucket)",
            any(environ.get(n) for n in PASSPHRASE_VARIABLES),
        )
    )
    ops = [r for r in refs if r.startswith("op://")]
    if ops:
        if isinstance(secrets, Mapping) and secrets.get("desktopAccount"):
            needs.append((f"1Password app account `{secrets['desktopAccount']}`", f"{len(ops)} op:// references", True))
        else:
            needs.append(
                (
                    f"`{OP_TOKEN}`",
                    f"1Password service account: {len(ops)} op:// references",
                    bool(environ.get(OP_TOKEN)),
                )
            )
    for ref in refs:
        if ref.startswith("env:"):
            needs.append((f"`{ref[4:]}`", f"the secret `{ref}`", bool(environ.get(ref[4:]))))
    if any(r.type.startswith("tailscale:") for r in render.resources):
        configured = any(k in provider_config for k in ("tailscale:apiKey", "tailscale:oauthClientSecret"))
        oauth = all(environ.get(n) for n in TAILSCALE_OAUTH)
        needs.append(
            (
                f"`{TAILSCALE_KEY}`, or `{TAILSCALE_OAUTH[0]}` and `{TAILSCALE_OAUTH[1]}`",
                "the Tailscale provider (or `tailscale:apiKey` as secret config); `TAILSCALE_TAILNET` optional",
                configured or bool(environ.get(TAILSCALE_KEY)) or oauth,
            )
        )
    commands = _commands(render)
    if any("privateKey" not in c.connection for c in commands):
        needs.append(
            (f"`{SSH_AGENT}`", "an SSH agent holding the key for the backup host", bool(environ.get(SSH_AGENT)))
        )
    lines = [f"- {names}: {what}" + ("" if ok else " - **not set in this shell**") for names, what, ok in needs]
    contexts = sorted(
        {str(reveal(p.inputs).get("context")) for p in render.resources if p.type == f"{PROVIDER_PREFIX}kubernetes"}
        - {"None"}
    )
    if contexts or any(r.type.startswith("kubernetes:") for r in render.resources):
        shown = ", ".join(f"`{c}`" for c in contexts) or "the current one"
        lines.append(f"- kubeconfig (`KUBECONFIG`, else `~/.kube/config`) with the context {shown}")
    return lines


def _what_up_does(render: Render, provider_config: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    return [
        "## What `pulumi up` does",
        "",
        *_changes(render),
        "",
        "### 4. Runs on the backup host",
        "",
        *_on_hosts(render),
        "",
        "### 5. Tailnet",
        "",
        *_tailnet(render),
        "",
        "### 6. Credentials `pulumi up` needs (names only; checked in the shell that rendered)",
        "",
        *_credentials(render, provider_config, environ),
        "",
    ]


def summary(
    render: Render, provider_config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """``summary.md``: what this render would do, for a person to review."""
    secrets = "resolved for the check, never written" if not render.placeholders else "placeholders (not resolved)"
    lines = [
        f"# pg-dr render: stack `{render.stack}` of project `{render.project}`",
        "",
        f"{len(render.resources)} resources; secrets: {secrets}. Details: `graph.json`, `k8s/`, `hosts/`, `tailnet/`.",
        "",
        "## Warnings",
        "",
        *([f"- {w}" for w in render.warnings] or ["- none"]),
        "",
        *_what_up_does(render, provider_config or {}, os.environ if environ is None else environ),
        "## Providers",
        "",
        *_providers(render, provider_config or {}),
        "",
        "## Monitoring",
        "",
        *_monitoring(render),
        "",
        "## Resources by component",
        "",
        *_resources(render),
        "",
        "## Hosts (over SSH)",
        "",
        *_hosts(_commands(render)),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def review_files(render: Render, provider_config: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``summary.md`` and the scripts, by relative path."""
    return {"summary.md": summary(render, provider_config), **script_files(render)}
