"""The borgmatic host's own scripts (in ``sh/``): preflight, verification, and the schedule's hooks.

Delivery of files and of the pgpass block is the remote layer's (:mod:`components.remote.delivery`);
these are what only BorgmaticHost runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.borgmatic.plan import Binary, ExpectedDump
from components.monitoring.plan import coverage_lib
from components.remote.shell import BARE_PATH, ere, q, script, snippet

SH = Path(__file__).resolve().parent / "sh"
VERSION_PREFIX = "pg-dr-version "
DUMP_PREFIX = "pg-dr-dump "
ROLES_PREFIX = "pg-dr-roles "
SCHEDULERS = ("launchctl", "systemctl")


# ------------------------------------------------------------------------------------------ schedule
# launchd after a bootout: tries of a refused bootstrap, and the pause between tries (and between looks at
# a running backup); how long a reload waits for the agent's backup in progress to end
BOOTSTRAP_TRIES = 15
RETRY_SECONDS = 2
RUN_WAIT_SECONDS = 900


def launchd_reload(
    launchctl: str, label: str, plist: str, *, tries: int = BOOTSTRAP_TRIES, retry_seconds: int = RETRY_SECONDS
) -> tuple[str, str]:
    """(after a change: bootout the old job once its backup in progress ended; always: bootstrap it if it is
    not loaded, retried while launchd still refuses)."""
    after_change = launchd_unload(launchctl, label, retry_seconds=retry_seconds)
    always = _launchd("launchd-bootstrap.sh", launchctl, label, retry_seconds, PLIST=q(plist), TRIES=str(tries))
    return after_change, always


def launchd_unload(
    launchctl: str, label: str, *, run_wait: int = RUN_WAIT_SECONDS, retry_seconds: int = RETRY_SECONDS
) -> str:
    return _launchd("launchd-bootout.sh", launchctl, label, retry_seconds, RUN_WAIT=str(run_wait))


def _launchd(name: str, launchctl: str, label: str, retry_seconds: int, **values: str) -> str:
    return snippet(SH, name, LAUNCHCTL=q(launchctl), LABEL=q(label), RETRY_SECONDS=str(retry_seconds), **values)


def systemd_user(systemctl: str, *args: str) -> str:
    return snippet(SH, "systemd-user.sh", SYSTEMCTL=q(systemctl), ARGS=" ".join(q(a) for a in args))


# ------------------------------------------------------------------------------------------ preflight
def preflight(binaries: Sequence[Binary]) -> str:
    """Fail naming every configured path that is not an executable file (or does not run); print versions.

    Each tool but the schedulers must answer ``--version``: a file that exists but cannot run (a broken
    interpreter line, a foreign binary) fails here too.
    """
    checks = "\n".join(f"check {q(b.key)} {q(b.path)}" for b in binaries)
    versions = "\n".join(f"version {q(b.name)} {q(b.key)} {q(b.path)}" for b in binaries if b.name not in SCHEDULERS)
    return script(SH, "preflight.sh", CHECKS=checks, VERSIONS=versions, VERSION_PREFIX=VERSION_PREFIX)


def parse_versions(stdout: str) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in (stdout or "").splitlines():
        if line.startswith(VERSION_PREFIX) and "=" in line:
            name, _, value = line[len(VERSION_PREFIX) :].partition("=")
            versions[name] = value.strip()
    return versions


# ------------------------------------------------------------------------------------------ verify
def dump_pattern(dump: ExpectedDump) -> str:
    """An ERE matching the dump's line in ``borg list --json-lines`` (borg writes the keys in a fixed order).

    A file dump (custom, tar, plain) must be a regular file with a non-zero size; a directory-format dump
    is a directory entry. The path may carry the runtime directory in front (Borg < 1.4).
    """
    path = '"path": "([^"]*/)?' + ere(dump.path) + '"'
    if dump.directory:
        return '^[{]"type": "d", .*' + path
    return '^[{]"type": "-", .*' + path + ', .*"size": [1-9]'


def verify(
    borgmatic: str,
    config_path: str,
    home: str,
    repositories: Sequence[str],
    dumps: Sequence[ExpectedDump],
    env: dict[str, str],
    coverage: str = "",
    psql: str = "psql",
    report: str | None = None,
    more_configs: Sequence[str] = (),
) -> str:
    """Validate the config, run a backup, and check every repository's latest archive holds every dump.

    ``coverage``: the coverage checks (:func:`components.monitoring.plan.coverage_calls`): a database on a
    backed-up server that is not configured is reported, and counted in the ``pgdr_backup_uncovered_databases``
    metric through ``report`` (pg-dr-report) when given. ``more_configs`` (the frequent config) are
    validated too.

    ``repositories`` are labels. borgmatic runs with the bare PATH of a LaunchAgent, so a binary not
    configured by absolute path fails here, not at 2 a.m.
    """
    lines = []
    for i, repo in enumerate(repositories):
        lines.append(f"list {i} {q(repo)}")
        lines += [
            f"check_dump {i} {q(repo)} {q(dump.database)} {q(dump.path)} {q(dump_pattern(dump))} "
            f"{q(ROLES_PREFIX if dump.roles else DUMP_PREFIX)}"
            for dump in dumps
        ]
    return script(
        SH,
        "verify.sh",
        CONFIG=q(config_path),
        HOME=q(home),
        BARE_PATH=":".join(BARE_PATH),
        ENV=" ".join(f"{k}={q(v)}" for k, v in sorted(env.items())),
        BORGMATIC=q(borgmatic),
        CHECKS="\n".join(lines),
        PSQL=q(psql),
        VALIDATE_MORE="\n".join(
            f"config={q(path)}\nif ! bm config validate; then\n"
            f"  printf '%s\\n' \"pg-dr verify: borgmatic config validate failed for $config\" >&2\n  exit 1\nfi\n"
            f"config={q(config_path)}"
            for path in more_configs
        ),
        COVERAGE_LIB=coverage_lib(),
        COVERAGE=coverage,
        METRIC=(
            f'[ "$unlisted" -ne 0 ] || {q(report)} metric pgdr_backup_uncovered_databases "" "$uncovered"'
            if report
            else ""
        ),
    )


def parse_roles(stdout: str) -> list[str]:
    """``<repository label> <archive path>`` of every verified roles file."""
    return [line[len(ROLES_PREFIX) :] for line in (stdout or "").splitlines() if line.startswith(ROLES_PREFIX)]


def parse_dumps(stdout: str) -> list[str]:
    """``<repository label> <archive path>`` of every verified dump."""
    return [line[len(DUMP_PREFIX) :] for line in (stdout or "").splitlines() if line.startswith(DUMP_PREFIX)]
