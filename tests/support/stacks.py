"""Stack configs for tests, as the ``config:`` mapping of a ``Pulumi.<stack>.yaml``."""

from __future__ import annotations

import copy
from typing import Any

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq7Xk0cY2zJ3H9n7oQ1l5m8bXw9uVvM2j0m6c1S2dTe"

BASE: dict[str, Any] = {
    "pg-dr:secrets": {"provider": "onepassword"},
    "pg-dr:tailnet": {"manage": True, "policyFile": "policy/tailnet.hujson", "backupSource": "tag:homelab"},
    "pg-dr:cluster": {
        "name": "blumeops-pg",
        "namespace": "databases",
        "mode": "cluster",
        "storage": {"size": "10Gi", "storageClass": "standard"},
        "bootstrap": {"database": "miniflux", "owner": "miniflux"},
        "roles": [
            {
                "name": "borgmatic",
                "login": True,
                "inRoles": ["pg_read_all_data"],
                "password": "op://blumeops/borgmatic/db-password",
            }
        ],
    },
    "pg-dr:backup": {
        "host": "indri.tail8d86e.ts.net",
        "user": "erichblume",
        "hostKey": HOST_KEY,
        "homeDir": "/Users/erichblume",
        "repositories": [{"path": "/Volumes/backups/borg/", "label": "sifaka"}],
        "encryptionPasscommand": "cat /Users/erichblume/.borg/passphrase",
        "databases": [
            {
                "name": "miniflux",
                "hostname": "localhost",
                "port": 5432,
                "username": "borgmatic",
                "password": "op://blumeops/borgmatic/db-password",
            },
            {
                "name": "miniflux",
                "hostname": "k8s-pg.tail8d86e.ts.net",
                "port": 5432,
                "username": "borgmatic",
                "password": "op://blumeops/borgmatic/db-password",
                "tailnetTag": "tag:k8s",
                "cluster": True,
            },
        ],
    },
}


def stack(**overrides: Any) -> dict[str, Any]:
    """A copy of BASE with sections replaced: ``stack(cluster={...})`` sets ``pg-dr:cluster``."""
    config = copy.deepcopy(BASE)
    for section, value in overrides.items():
        key = f"pg-dr:{section}"
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def raw_sections(config: dict[str, Any]) -> dict[str, Any]:
    """The ``pg-dr`` sections of a stack config, as ``parse_stack_config`` takes them."""
    return {k.split(":", 1)[1]: copy.deepcopy(v) for k, v in config.items() if k.startswith("pg-dr:")}
