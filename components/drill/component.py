"""RestoreDrill: prove the latest backup restores through the disaster path (``pg-dr-restore``), on demand.

Opt-in with ``pg-dr:drill.enabled``. On the backup host, over BorgmaticHost's connection and after it (so
the drill sees the delivered config and the verified archive) and after RestoreCommand (``pg-dr-restore``
delivered):

``<name>-pgpass``  only with ``target.password``: the ``# BEGIN pg-dr drill`` block of the pgpass file
                   (the target role's line; secret stdin, no logging), removed when the drill goes away.
``<name>-command`` ``pg-dr-drill`` (:func:`components.drill.plan.drill_script`), 0755, next to
                   ``pg-dr-restore``: the drill's settings baked in; the scheduled drill runs it too.
``<name>-run``     runs ``pg-dr-drill`` (:func:`components.drill.plan.run_script`); ``triggers = [runId]``:
                   change ``pg-dr:drill.runId`` and ``pulumi up`` runs it again; any other change prints
                   the verdict recorded for this runId. A failed check fails ``up`` naming the table
                   (``table public.entries: dump has 44, restored 43``).

The outputs ``archive``, ``restoreSeconds`` and ``counts`` come from pg-dr-restore's JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from components.borgmatic.config import BackupConfig
from components.drill.config import DrillConfig
from components.drill.plan import (
    MARKER,
    PGPASS_BEGIN,
    PGPASS_END,
    drill_pgpass_block,
    drill_script,
    parse_result,
    recorded_result_script,
    run_script,
)
from components.outputs import RENDER_FILES, host_file
from components.remote.command import RemoteCommands
from components.restore.component import EXECUTABLE
from components.secrets.resolver import ResolvedSecrets


@dataclass(frozen=True)
class RestoreDrillArgs:
    drill: DrillConfig
    backup: BackupConfig
    secrets: ResolvedSecrets
    # The backup host's connection (BorgmaticHost.connection).
    connection: remote.ConnectionArgs
    # What must be in place first: the BorgmaticHost (config, pgpass, verified archive) and pg-dr-restore.
    run_after: Sequence[pulumi.Resource] = field(default_factory=list)


class RestoreDrill(pulumi.ComponentResource):
    """Restore the latest archive's dump of one database into a scratch database and check its row counts."""

    run: remote.Command
    command: remote.Command
    pgpass: remote.Command | None
    archive: pulumi.Output[Any]
    restore_seconds: pulumi.Output[Any]
    archive_time: pulumi.Output[Any]
    counts: pulumi.Output[Any]
    summary: dict[str, Any]

    def __init__(self, name: str, args: RestoreDrillArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:RestoreDrill", name, None, opts)
        drill, backup = args.drill, args.backup
        text = drill_script(drill, backup)
        commands = RemoteCommands(self, name, args.connection)

        self.pgpass = None
        target = drill.target
        assert target is not None
        if target.password is not None:
            block = pulumi.Output.secret(
                args.secrets.get(target.password).apply(lambda pw: drill_pgpass_block(drill, pw))
            )
            self.pgpass = commands.pgpass_block(
                "pgpass", backup.resolved_pgpass_path, block, PGPASS_BEGIN, PGPASS_END, depends_on=args.run_after
            )
        self.command = commands.file(
            "command", backup.drill_command_path, text, mode=EXECUTABLE, depends_on=list(args.run_after)
        )

        self.run = commands.command(
            "run",
            run_script(drill, backup),
            # Only a new runId runs the drill again (a replacement); any other change is an in-place update
            # that prints the recorded result of this runId instead of restoring (pulumi-command would run
            # ``create`` again on an update that has no ``update`` command).
            update=recorded_result_script(drill, backup),
            triggers=[drill.run_id],
            depends_on=[*args.run_after, self.command, *([self.pgpass] if self.pgpass else [])],
        )

        result = self.run.stdout.apply(parse_result)
        self.archive = result.apply(lambda r: r.get("archive"))
        self.restore_seconds = result.apply(lambda r: r.get("restoreSeconds"))  # the measured RTO
        self.archive_time = result.apply(lambda r: r.get("archiveTime"))  # the verified RPO's point: a drilled dump
        self.counts = result.apply(lambda r: r.get("counts") or {})
        (source,) = drill.source(backup)
        self.summary = {
            "runId": drill.run_id,
            "command": backup.drill_command_path,
            "dumpPath": source.dump_path,
            "target": f"{target.hostname}:{target.port}",
            "scratchDatabase": drill.scratch_name,
            "marker": MARKER,
            "checks": {"dumpCounts": "exact", "expectedCounts": drill.expected_tables, "roles": drill.roles},
            "archive": self.archive,
            "archiveTime": self.archive_time,
            "restoreSeconds": self.restore_seconds,
            "counts": self.counts,
        }
        self.register_outputs({**self.summary, RENDER_FILES: {host_file(backup.host, "pg-dr-drill"): text}})
