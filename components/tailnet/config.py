"""``pg-dr:tailnet``: the Tailscale policy the backup grants are spliced into."""

from __future__ import annotations

from components.config.base import Model, Tag, Text


class TailnetConfig(Model):
    """``pg-dr:tailnet``: the Tailscale policy the backup grants are spliced into."""

    manage: bool = True
    policy_file: Text = "policy/tailnet.hujson"
    backup_source: Tag = "tag:homelab"
    overwrite_existing: bool = False
