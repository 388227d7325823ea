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
import re
import shlex
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def _split(text: str) -> list[str] | None:
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


def summary(render: Render, provider_config: Mapping[str, Any] | None = None) -> str:
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
