"""pg-dr's CrossGuard policy pack (``pulumi preview --policy-pack policy``); rules in :mod:`policy.rules`."""
