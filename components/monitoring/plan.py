"""What pg-dr delivers so that every night reports (docs/monitoring.md): pure functions, no Pulumi, no I/O.

* :func:`borgmatic_monitoring`: borgmatic 2.1's own monitoring hooks (``healthchecks``, ``ntfy``,
  ``uptime_kuma``) for pg-dr's borgmatic config; ``send_logs`` on, so a fail ping carries the log;
* :func:`borgmatic_commands`: borgmatic command hooks running ``pg-dr-report`` (the run lock shared with
  the scheduled drill, the backup's success metric);
* :func:`report_script`: ``pg-dr-report`` itself; :func:`drill_wrapper`: the scheduled drill's wrapper
  ``pg-dr-drill-scheduled`` (runs ``pg-dr-drill``, keeps the history, checks RPO/RTO, metrics, pings).

Secret values (ping URLs, ntfy credentials) are passed in ``values`` (reference -> value); for a review
render they are :data:`~components.borgmatic.plan.REDACTED`.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from components.borgmatic.config import BackupConfig, DatabaseConfig
from components.monitoring.config import MonitoringConfig
from components.remote.shell import BARE_PATH, q, script
from components.secrets.refs import SecretRef

SH = Path(__file__).resolve().parent / "sh"
CURL = "/usr/bin/curl"  # macOS and Debian both ship it there
HISTORY_KEEP = 100
Values = Mapping[SecretRef, str]
# Every metric pg-dr writes (docs/monitoring.md), with its HELP text.
METRICS = {
    "pgdr_backup_last_success_timestamp_seconds": "When borgmatic last backed up the database successfully.",
    "pgdr_backup_uncovered_databases": "Databases on the backed-up servers that pg-dr does not back up.",
    "pgdr_drill_last_ok": "1 if the last scheduled restore drill passed, else 0.",
    "pgdr_drill_last_success_timestamp_seconds": "When a scheduled restore drill last passed.",
    "pgdr_drill_restore_seconds": "Restore time of the last passed drill (extract, restore, analyze): measured RTO.",
    "pgdr_drill_verified_archive_timestamp_seconds": "When the archive the last passed drill restored was made.",
}


def _value(value: SecretRef | str, values: Values) -> str:
    return values[value] if isinstance(value, SecretRef) else value


# ------------------------------------------------------------------------------------------ borgmatic
def borgmatic_monitoring(mon: MonitoringConfig, values: Values, what: str) -> dict[str, object]:
    """borgmatic's monitoring options (``what``: the title of a failure notification)."""
    doc: dict[str, object] = {}
    if mon.healthchecks is not None:
        doc["healthchecks"] = {
            "ping_url": _value(mon.healthchecks.ping_url, values),
            # borgmatic 2.1.10 sends no log unless asked: the fail ping must say why
            "send_logs": True,
            "states": list(mon.healthchecks.states),
        }
    if mon.ntfy is not None:
        n = mon.ntfy
        entry: dict[str, object] = {"topic": _value(n.topic, values), "server": _value(n.server, values)}
        if n.username is not None and n.password is not None:
            entry |= {"username": n.username, "password": _value(n.password, values)}
        if n.access_token is not None:
            entry["access_token"] = _value(n.access_token, values)
        entry |= {
            "fail": {"title": f"{what} failed", "priority": "high", "tags": "warning"},
            "states": list(n.states),
        }
        doc["ntfy"] = entry
    if mon.uptime_kuma is not None:
        doc["uptime_kuma"] = {
            "push_url": _value(mon.uptime_kuma.push_url, values),
            "states": list(mon.uptime_kuma.states),
        }
    return doc


def needs_report(cfg: BackupConfig, drill_scheduled: bool) -> bool:
    """Whether the backup host gets ``pg-dr-report`` (metrics, or the lock shared by several schedules)."""
    return cfg.metrics is not None or locked(cfg, drill_scheduled)


def locked(cfg: BackupConfig, drill_scheduled: bool) -> bool:
    """Whether pg-dr's configs take the run lock: when another schedule (a drill, the frequent backup)
    uses the same repository."""
    return drill_scheduled or bool(cfg.frequent)


def backup_labels(databases: Sequence[DatabaseConfig]) -> list[str]:
    """The metric labels of each database (``database="name",server="host:port"``)."""
    return [labels(database=db.name, server=f"{db.hostname}:{db.port}") for db in databases]


def borgmatic_commands(cfg: BackupConfig, lock: bool, databases: Sequence[DatabaseConfig]) -> list[dict[str, object]]:
    """borgmatic command hooks: the run lock around the config (``lock``), the success metric of
    ``databases`` (with metrics)."""
    report = shlex.quote(cfg.report_path)
    actions = ["create", "prune", "compact", "check"]
    hooks: list[dict[str, object]] = []
    if lock:
        # "$PPID" is borgmatic itself (the hook's shell is its child): the lock names the run that holds it
        hooks.append({"before": "configuration", "when": list(actions), "run": [f'{report} lock "$PPID"']})
    if cfg.metrics is not None:
        ok = " ".join([f"{report} backup-ok", *(shlex.quote(x) for x in backup_labels(databases))])
        hooks.append({"after": "configuration", "when": ["create"], "states": ["finish"], "run": [ok]})
    if lock:
        hooks.append(
            {
                "after": "configuration",
                "when": list(actions),
                "states": ["finish", "fail"],
                "run": [f'{report} unlock "$PPID"'],
            }
        )
    return hooks


# ------------------------------------------------------------------------------------------ coverage
UNCOVERED_PREFIX = "pg-dr-uncovered "


def coverage_lib() -> str:
    """The ``coverage`` shell function (the includer defines ``run_psql``)."""
    return script(SH, "coverage.sh", UNCOVERED_PREFIX=UNCOVERED_PREFIX).rstrip("\n")


def coverage_calls(cfg: BackupConfig) -> str:
    """One ``coverage`` call per backed-up server: as its first entry's user, in its database, with every
    name configured for that server."""
    servers: dict[tuple[str, int], tuple[str, str, list[str]]] = {}
    for db in cfg.databases:
        servers.setdefault((db.hostname, db.port), (db.username, db.name, []))[2].append(db.name)
    return "\n".join(
        f"coverage {q(host)} {q(port)} {q(user)} {q(database)} {q(' '.join(names))}"
        for (host, port), (user, database, names) in servers.items()
    )


def parse_uncovered(stdout: str) -> list[str]:
    """``host:port/name`` of every database on a backed-up server that is not backed up."""
    return [line[len(UNCOVERED_PREFIX) :] for line in (stdout or "").splitlines() if line.startswith(UNCOVERED_PREFIX)]


# ------------------------------------------------------------------------------------------ scripts
def _lib(cfg: BackupConfig) -> str:
    return script(
        SH,
        "report-lib.sh",
        STATE=q(cfg.state_dir),
        LOCK=q(cfg.lock_path),
        LOCK_WAIT=str(cfg.run_lock_wait_seconds),
        METRICS=q(cfg.metrics.textfile_path if cfg.metrics else ""),
        HELP="\n".join(f'      help["{name}"] = "{text}"' for name, text in METRICS.items()),
    ).rstrip("\n")


def labels(**pairs: str) -> str:
    """Prometheus labels (``a="x",b="y"``) for names and hosts (no quotes or backslashes in them)."""
    return ",".join(f'{k}="{v}"' for k, v in pairs.items())


def report_script(cfg: BackupConfig) -> str:
    return script(SH, "report.sh", BARE_PATH=":".join(BARE_PATH), LIB=_lib(cfg))


def _curl_string(value: str) -> str:
    """A double-quoted string of a curl config file (``curl -K``)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pings(mon: MonitoringConfig, values: Values) -> str:
    """``ping_start``, ``ping_ok``, ``ping_fail`` for the drill wrapper; URLs and credentials reach curl on
    stdin (``-K -``), never its command line."""
    lines = [
        "ping() {",
        f'  {CURL} -K - -fsS -m 10 --retry 2 -o /dev/null "$@" || echo "pg-dr: a monitoring ping failed" >&2',
        "}",
    ]
    calls: dict[str, list[str]] = {"start": [], "finish": [], "fail": []}
    if mon.healthchecks is not None:
        # URLs hold no '"' or '\\' (url_problem): they go into curl's config as they are
        lines.append(f"hc_url={q(_value(mon.healthchecks.ping_url, values).rstrip('/'))}")
        suffix = {"start": "/start", "finish": "", "fail": "/fail"}
        for state in mon.healthchecks.states:
            body = "--data-binary ''" if state == "start" else '--data-binary @"$work/body"'
            calls[state].append(f'  printf \'url = "%s{suffix[state]}"\\n\' "$hc_url" | ping -X POST {body}')
    if mon.ntfy is not None:
        n = mon.ntfy
        server = _value(n.server, values).rstrip("/")
        lines.append(f"ntfy_conf={q('url = ' + _curl_string(server + '/' + _value(n.topic, values)))}")
        if n.access_token is not None:
            auth = "header = " + _curl_string("Authorization: Bearer " + _value(n.access_token, values))
            lines.append(f'ntfy_conf="$ntfy_conf"{q(chr(10) + auth)}')
        elif n.username is not None and n.password is not None:
            auth = "user = " + _curl_string(n.username + ":" + _value(n.password, values))
            lines.append(f'ntfy_conf="$ntfy_conf"{q(chr(10) + auth)}')
        titles = {"start": "pg-dr drill started", "finish": "pg-dr drill OK", "fail": "pg-dr drill FAILED"}
        for state in n.states:
            priority = "high" if state == "fail" else "default"
            body = "--data-binary 'started'" if state == "start" else '--data-binary @"$work/body"'
            calls[state].append(
                f'  printf \'%s\\n\' "$ntfy_conf" | ping -H "Title: {titles[state]} on $host" '
                f'-H "Priority: {priority}" -H "Tags: {"warning" if state == "fail" else "white_check_mark"}" {body}'
            )
    if mon.uptime_kuma is not None:
        lines.append(f"kuma_url={q(_value(mon.uptime_kuma.push_url, values))}")
        for state in mon.uptime_kuma.states:
            status = "down" if state == "fail" else "up"
            msg = '"msg=$message"' if state != "start" else "msg=start"
            query = f"--data-urlencode status={status} --data-urlencode {msg}"
            calls[state].append(f'  printf \'url = "%s"\\n\' "$kuma_url" | ping -G {query}')
    for state, name in (("start", "ping_start"), ("finish", "ping_ok"), ("fail", "ping_fail")):
        lines += [f"{name}() {{", "  :", *calls[state], "}"]
    return "\n".join(lines)


def drill_wrapper_path(cfg: BackupConfig) -> str:
    return posixpath.join(posixpath.dirname(cfg.resolved_restore_command_path), "pg-dr-drill-scheduled")


def drill_wrapper(
    cfg: BackupConfig, mon: MonitoringConfig, values: Values, *, rto_seconds: int | None, timeout: int
) -> str:
    """The scheduled drill's wrapper (``pg-dr-drill-scheduled``); holds ``values`` (deliver it as a secret)."""
    return script(
        SH,
        "drill-scheduled.sh",
        BARE_PATH=":".join(BARE_PATH),
        LIB=_lib(cfg),
        DRILL=q(cfg.drill_command_path),  # pg-dr-drill, beside pg-dr-restore (the restore contract)
        RPO_HOURS=str(cfg.rpo_hours),
        RTO_SECONDS=q("" if rto_seconds is None else rto_seconds),
        TIMEOUT=str(timeout),
        PINGS=_pings(mon, values),
        KEEP=str(HISTORY_KEEP),
        KEEP_BEFORE=str(HISTORY_KEEP - 1),
        PSQL=q(posixpath.join(cfg.pg_bin_dir, "psql")),
        COVERAGE_LIB=coverage_lib(),
        COVERAGE=coverage_calls(cfg) or ":",
        UNCOVERED_PREFIX=UNCOVERED_PREFIX,
    )


def secret_refs(*monitors: MonitoringConfig) -> list[SecretRef]:
    return list(dict.fromkeys(ref for mon in monitors for ref in mon.secret_refs()))


def placeholders(refs: Sequence[SecretRef], text: str) -> dict[SecretRef, str]:
    return dict.fromkeys(refs, text)
