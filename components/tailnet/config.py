"""``pg-dr:tailnet``: the Tailscale policy the backup grants are spliced into."""

from __future__ import annotations

from pydantic import model_validator

from components.config.base import Model, Tag, Text, _NestedProblems


class TailnetConfig(Model):
    """``pg-dr:tailnet``: the Tailscale policy the backup grants are spliced into."""

    manage: bool = True
    policy_file: Text = "policy/tailnet.hujson"
    backup_source: Tag = "tag:homelab"
    overwrite_existing: bool = False
    # Import the tailnet's live policy on the first `up` (then the merge is applied to it as an update,
    # which sends no If-Match): the create's `If-Match: ts-default` would fail with 412 on an edited policy.
    adopt: bool = False

    @model_validator(mode="after")
    def _adopt_needs_manage(self) -> TailnetConfig:
        if self.adopt and not self.manage:
            raise _NestedProblems([("adopt", "needs manage: true (with manage: false there is no Acl to import)")])
        return self
