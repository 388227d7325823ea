"""Wait, bounded, for CNPG to apply a new backup role or password (script ``sh/wait-login.sh``).

A Kubernetes apply returns before the operator acts: the role Secret and the Cluster's managed roles are
accepted, and CNPG changes PostgreSQL some seconds later. The verification's backup would fail in
between, so BorgmaticHost runs this first: each database served by the cluster (``cluster: true``) must
accept its user's login with the delivered pgpass file within ``pg-dr:backup.loginWaitSeconds``. Nothing
listening (connection refused) or an unknown host fails after ``UNREACHABLE_GRACE_SECONDS``, naming that cause.
"""

from __future__ import annotations

from pathlib import Path

from components.borgmatic.config import BackupConfig
from components.borgmatic.plan import pg_tool
from components.remote.shell import q, script

SH = Path(__file__).resolve().parent / "sh"
# How long a refused connection (or an unknown host) may last before the wait fails naming it: long enough for
# a port-forward restarted in a loop to come back, short of blaming CNPG after loginWaitSeconds.
UNREACHABLE_GRACE_SECONDS = 15


def wait_login(cfg: BackupConfig, env: dict[str, str]) -> str | None:
    """The wait script, or None when no database is served by the cluster (or waiting is off)."""
    databases = [(i, db) for i, db in enumerate(cfg.databases) if db.cluster]
    if not databases or cfg.login_wait_seconds == 0:
        return None
    waits = [
        f"wait_login {q(f'pg-dr:backup.databases[{i}]')} {q(db.hostname)} {q(db.port)} {q(db.username)} {q(db.name)}"
        for i, db in databases
    ]
    return script(
        SH,
        "wait-login.sh",
        LIMIT=str(cfg.login_wait_seconds),
        GRACE=str(min(UNREACHABLE_GRACE_SECONDS, cfg.login_wait_seconds)),
        ENV=" ".join(f"{k}={q(v)}" for k, v in sorted(env.items())),
        PSQL=q(pg_tool(cfg, "psql")),
        WAITS="\n".join(waits),
    )
