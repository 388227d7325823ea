"""RestoreDrill: prove the latest backup restores (the runbook's "2 users, 2 feeds, 44 entries"), on demand.

Opt-in with ``pg-dr:drill.enabled``. On the backup host, over BorgmaticHost's connection and after it (so
the drill sees the delivered config and the verified archive), one ``remote.Command`` runs the script of
:mod:`components.drill.plan`: the repository's latest archive, the chosen database's dump restored into a
scratch database on the target server (created for the drill, dropped after, never the source:
``--dbname`` is the scratch name and a database without the drill's marker is never touched), exact row
counts per table checked against ``expectedCounts`` and/or the source, and a ``pg-dr-drill-result`` line
parsed into the outputs ``archive``, ``restoreSeconds`` and ``counts``.

Children:

``<name>-pgpass``  only with ``target.password``: the ``# BEGIN pg-dr drill`` block of the pgpass file
                   (the target role's line; secret stdin, no logging), removed when the drill goes away.
``<name>-run``     the drill; ``triggers = [runId]``: change ``pg-dr:drill.runId`` and ``pulumi up`` runs
                   it again. A failed check fails ``up`` with ``table <t>: expected N, restored M``.

The drill restores with the dump's own bytes but not through ``borgmatic restore``: borgmatic restores a
dump only into a database of the same name, which on the source server would be the source itself.
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
    PGPASS_BEGIN,
    PGPASS_END,
    drill_pgpass_block,
    drill_plan,
    drill_script,
    parse_result,
    recorded_result_script,
)
from components.outputs import RENDER_FILES, host_file
from components.remote.command import RemoteCommands
from components.secrets.resolver import ResolvedSecrets


@dataclass(frozen=True)
class RestoreDrillArgs:
    drill: DrillConfig
    backup: BackupConfig
    secrets: ResolvedSecrets
    # The backup host's connection (BorgmaticHost.connection).
    connection: remote.ConnectionArgs
    # What must be in place first: the BorgmaticHost (config, pgpass, verified archive).
    run_after: Sequence[pulumi.Resource] = field(default_factory=list)


class RestoreDrill(pulumi.ComponentResource):
    """Restore the latest archive's dump of one database into a scratch database and check its row counts."""

    run: remote.Command
    pgpass: remote.Command | None
    archive: pulumi.Output[Any]
    restore_seconds: pulumi.Output[Any]
    counts: pulumi.Output[Any]
    summary: dict[str, Any]

    def __init__(self, name: str, args: RestoreDrillArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:RestoreDrill", name, None, opts)
        drill, backup = args.drill, args.backup
        plan = drill_plan(drill, backup)
        script = drill_script(plan)
        commands = RemoteCommands(self, name, args.connection)

        self.pgpass = None
        target = drill.target
        assert target is not None
        if target.password is not None:
            block = pulumi.Output.secret(
                args.secrets.get(target.password).apply(lambda pw: drill_pgpass_block(drill, pw))
            )
            self.pgpass = commands.pgpass_block(
                "pgpass", plan.pgpass_path, block, PGPASS_BEGIN, PGPASS_END, depends_on=args.run_after
            )

        self.run = commands.command(
            "run",
            script,
            # Only a new runId runs the drill again (a replacement); any other change is an in-place update
            # that prints the recorded result of this runId instead of restoring (pulumi-command would run
            # ``create`` again on an update that has no ``update`` command).
            update=recorded_result_script(plan),
            triggers=[drill.run_id],
            depends_on=[*args.run_after, *([self.pgpass] if self.pgpass else [])],
        )

        result = self.run.stdout.apply(parse_result)
        self.archive = result.apply(lambda r: r.get("archive"))
        self.restore_seconds = result.apply(lambda r: r.get("restoreSeconds"))
        self.counts = result.apply(lambda r: r.get("counts") or {})
        self.summary = {
            "runId": drill.run_id,
            "dumpPath": plan.dump_path,
            "target": f"{plan.target.hostname}:{plan.target.port}",
            "scratchDatabase": plan.scratch,
            "checks": {"expectedCounts": dict(plan.expected), "compareToSource": plan.source is not None},
            "archive": self.archive,
            "restoreSeconds": self.restore_seconds,
            "counts": self.counts,
        }
        self.register_outputs({**self.summary, RENDER_FILES: {host_file(backup.host, "restore-drill.sh"): script}})
