"""``pg-dr:secrets``: which backend resolves the stack's secret references."""

from __future__ import annotations

from typing import Literal

from components.config.base import Model, Text


class SecretsConfig(Model):
    """``pg-dr:secrets``: which backend resolves ``op://`` references."""

    provider: Literal["onepassword", "env", "config"] = "onepassword"
    desktop_account: Text | None = None
    integration_name: Text = "pg-dr"
