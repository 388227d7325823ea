"""A backup host in a temp directory for the monitoring scripts (pg-dr-report, the drill's wrapper)."""

from __future__ import annotations

from pathlib import Path

from components.borgmatic.config import BackupConfig


def home_backup(home: Path, **extra: object) -> BackupConfig:
    """``pg-dr:backup`` whose home, commands (``home/bin``) and metrics textfile are below ``home``."""
    return BackupConfig.model_validate(
        {
            "host": "indri",
            "user": "u",
            "insecureIgnoreHostKey": True,
            "homeDir": str(home),
            "repositories": [{"path": "/r", "label": "local"}],
            "databases": [{"name": "miniflux", "username": "borgmatic"}],
            "restoreCommandPath": str(home / "bin" / "pg-dr-restore"),
            "metrics": {"textfilePath": str(home / "textfile" / "pg-dr.prom")},
            **extra,
        }
    )
