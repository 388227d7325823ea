"""pg-dr: PostgreSQL disaster recovery for the homelab as one Pulumi stack.

Thin on purpose: load and validate the stack config, resolve every secret once, build the graph.
"""

import pulumi

from components.config.stack import load_stack_config
from components.secrets.resolver import resolve_all
from components.stack import build_stack

config = load_stack_config()
for name, value in build_stack(config, resolve_all(config)).items():
    pulumi.export(name, value)
