"""Deliver a file that may hold monitoring secrets (borgmatic's config, the drill's wrapper).

Without a secret reference among the monitoring values the file is delivered like any other; with one,
its text is computed from the resolved values (checked when they were resolved:
``components.secrets.resolver``) and delivered as a secret (:meth:`RemoteCommands.secret_file`: framed
stdin, nothing logged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi
from pulumi_command import remote

from components.monitoring.config import MonitoringConfig
from components.monitoring.plan import Values
from components.remote.command import RemoteCommands
from components.secrets.resolver import ResolvedSecrets


def monitored_file(
    commands: RemoteCommands,
    suffix: str,
    path: str,
    monitoring: MonitoringConfig,
    secrets: ResolvedSecrets,
    render: Callable[[Values], str],
    *,
    depends_on: Sequence[pulumi.Resource],
    mode: str = "600",
) -> remote.Command:
    """``render(values)`` delivered to ``path``."""
    refs = monitoring.secret_refs()
    if not refs:
        return commands.file(suffix, path, render({}), depends_on=depends_on, mode=mode)

    def text(resolved: list[str]) -> str:
        return render(dict(zip(refs, resolved, strict=True)))

    secret = pulumi.Output.secret(pulumi.Output.all(*(secrets.get(r) for r in refs)).apply(text))
    return commands.secret_file(suffix, path, secret, depends_on=depends_on, mode=mode)
