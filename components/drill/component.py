"""RestoreDrill: prove the latest backup restores (the runbook's "2 users, 2 feeds, 44 entries"), on demand.

Opt-in with ``pg-dr:drill.enabled``. On the backup host, over the same SSH connection as BorgmaticHost and
after it (so the drill sees the delivered config and the verified archive), one ``remote.Command`` runs
the script of :mod:`components.drill.plan`: the repository's latest archive, the chosen database's
dump restored into a scratch database on the target server (created for the drill, dropped after,
never the source: ``--dbname`` is the scratch name and a database without the drill's marker is never
touched), exact row counts per table checked against ``expectedCounts`` and/or the source, and a
``pg-dr-drill-result`` line parsed into the outputs ``archive``, ``restoreSeconds`` and ``counts``.

Children:

``<name>-pgpass``  only with ``target.password``: the ``# BEGIN pg-dr drill`` block of the pgpass file
                   (the target role's line; secret stdin, no logging), removed when the drill goes away.
``<name>-run``     the drill; ``triggers = [runId]``: change ``pg-dr:drill.runId`` and ``pulumi up`` runs
                   it again. A failed check fails ``up`` with ``table <t>: expected N, restored M``.

The drill restores with the dump's own bytes but not through ``borgmatic restore``: borgmatic restores a
dump only into a database of the same name, which on the source server would be the source itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_command import remote

from components.borgmatic import plan as files
from components.borgmatic.config import BackupConfig
from components.drill.config import DrillConfig
from components.drill.plan import PGPASS_BEGIN, PGPASS_END, DrillPlan, Endpoint, drill_script, parse_result
from components.remote import scripts as scripts
from components.secrets.resolver import ResolvedSecrets


@dataclass(frozen=True)
class RestoreDrillArgs:
    drill: DrillConfig
    backup: BackupConfig
    secrets: ResolvedSecrets
    # What must be in place first: the BorgmaticHost (config, pgpass, verified archive).
    run_after: Sequence[pulumi.Resource] = field(default_factory=list)


def drill_plan(drill: DrillConfig, backup: BackupConfig) -> DrillPlan:
    """The script's inputs from a validated config (``drill.cross_check`` passed)."""
    (source,) = drill.source(backup)
    index = backup.databases.index(source)
    dump = files.expected_dumps(backup)[index]
    repo = next(r for r in backup.repositories if drill.repository in (None, r.label))
    target = drill.target
    assert target is not None and drill.scratch_name is not None  # enforced by DrillConfig
    return DrillPlan(
        borg=backup.borg_path,
        pg_bin_dir=backup.pg_bin_dir,
        repository=repo.path.rstrip("/") or "/",
        passcommand=backup.encryption_passcommand,
        pgpass_path=backup.resolved_pgpass_path,
        dump_path=dump.path,
        dump_format=source.format,
        jobs=source.restore_jobs or 1,
        target=Endpoint(target.hostname, target.port, target.username, target.maintenance_database),
        scratch=drill.scratch_name,
        source=Endpoint(source.hostname, source.port, source.username, source.name)
        if drill.compare_to_source
        else None,
        expected=drill.expected_tables,
    )


def pgpass_block(drill: DrillConfig, password: str) -> str:
    """The drill's pgpass block: the target role's line."""
    t = drill.target
    assert t is not None
    if "\n" in password or "\r" in password:
        raise ValueError(f"the password of {t.username}@{t.hostname}:{t.port} contains a newline")
    esc = files.pgpass_escape
    line = f"{esc(t.hostname)}:{t.port}:*:{esc(t.username)}:{esc(password)}"
    return f"{PGPASS_BEGIN}\n# managed by pg-dr (pg-dr:drill.target)\n{line}\n{PGPASS_END}\n"


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class RestoreDrill(pulumi.ComponentResource):
    """Restore the latest archive's dump of one database into a scratch database and check its row counts."""

    run: remote.Command
    pgpass: remote.Command | None

    def __init__(self, name: str, args: RestoreDrillArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pg-dr:index:RestoreDrill", name, None, opts)
        drill, backup = args.drill, args.backup
        plan = drill_plan(drill, backup)
        script = drill_script(plan)
        connection = remote.ConnectionArgs(
            host=backup.host,
            port=backup.port,
            user=backup.user,
            host_key=backup.host_key,
            private_key=args.secrets.get(backup.private_key) if backup.private_key is not None else None,
        )

        self.pgpass = None
        target = drill.target
        assert target is not None
        if target.password is not None:
            block = pulumi.Output.secret(args.secrets.get(target.password).apply(lambda pw: pgpass_block(drill, pw)))
            path = backup.resolved_pgpass_path
            self.pgpass = remote.Command(
                f"{name}-pgpass",
                connection=connection,
                create=scripts.sh_command(scripts.deliver_pgpass(path, PGPASS_BEGIN, PGPASS_END)),
                delete=scripts.sh_command(scripts.remove_pgpass(path, PGPASS_BEGIN, PGPASS_END)),
                stdin=block,
                triggers=[path, pulumi.Output.secret(block.apply(_digest))],
                add_previous_output_in_env=False,
                logging=remote.Logging.NONE,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=list(args.run_after), additional_secret_outputs=["stdin"]
                ),
            )

        self.run = remote.Command(
            f"{name}-run",
            connection=connection,
            create=scripts.sh_command(script),
            triggers=[drill.run_id],
            add_previous_output_in_env=False,
            logging=remote.Logging.STDOUT_AND_STDERR,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.run_after, *([self.pgpass] if self.pgpass else [])]
            ),
        )

        result = self.run.stdout.apply(parse_result)
        self.archive: pulumi.Output[Any] = result.apply(lambda r: r.get("archive"))
        self.restore_seconds: pulumi.Output[Any] = result.apply(lambda r: r.get("restoreSeconds"))
        self.counts: pulumi.Output[Any] = result.apply(lambda r: r.get("counts") or {})
        self.summary: dict[str, Any] = {
            "runId": drill.run_id,
            "dumpPath": plan.dump_path,
            "target": f"{plan.target.hostname}:{plan.target.port}",
            "scratchDatabase": plan.scratch,
            "checks": {"expectedCounts": dict(plan.expected), "compareToSource": plan.source is not None},
            "archive": self.archive,
            "restoreSeconds": self.restore_seconds,
            "counts": self.counts,
        }
        render_files = {f"hosts/{backup.host}/restore-drill.sh": script}
        self.register_outputs({**self.summary, "renderFiles": render_files})
