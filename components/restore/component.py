"""RestoreCommand: ``pg-dr-restore`` on the backup host, delivered by ``pulumi up`` (issue 15).

One child, ``<name>-command``: the generated script (:func:`components.restore.plan.restore_script`)
delivered to ``pg-dr:backup.restoreCommandPath`` (default ``<homeDir>/.local/bin/pg-dr-restore``),
mode 0755, by the remote layer's atomic delivery (:meth:`RemoteCommands.file`: length and sha256
checked, history kept, moved aside on removal). Rendered for review as ``hosts/<host>/pg-dr-restore``.
The file holds no secret; on the day the Pulumi state is gone it needs nothing but the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from components.borgmatic.config import BackupConfig
from components.outputs import RENDER_FILES, host_file
from components.remote.command import RemoteCommands
from components.restore.plan import restore_script

EXECUTABLE = "755"


@dataclass(frozen=True)
class RestoreCommandArgs:
    backup: BackupConfig
    # The backup host's connection (BorgmaticHost.connection).
    connection: remote.ConnectionArgs
    # What must be in place first: BorgmaticHost's preflight and host check.
    run_after: Sequence[pulumi.Resource] = field(default_factory=list)


class RestoreCommand(pulumi.ComponentResource):
    """Deliver ``pg-dr-restore`` (0755) to the backup host."""

    command: remote.Command
    path: str
    summary: dict[str, Any]

    def __init__(self, name: str, args: RestoreCommandArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:RestoreCommand", name, None, opts)
        cfg = args.backup
        text = restore_script(cfg)
        self.path = cfg.resolved_restore_command_path
        commands = RemoteCommands(self, name, args.connection)
        self.command = commands.file("command", self.path, text, mode=EXECUTABLE, depends_on=list(args.run_after))
        self.summary = {"path": self.path, "databases": [db.key for db in cfg.databases]}
        self.register_outputs({**self.summary, RENDER_FILES: {host_file(cfg.host, "pg-dr-restore"): text}})
