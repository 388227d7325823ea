"""Serve the pg-dr policy pack. The Pulumi CLI runs this file with ``python -m pulumi.policy`` in policy/.

Thin on purpose: the rules live in ``policy/rules.py`` (importable by the tests). The project root goes
on ``sys.path`` so the pack imports ``policy.*`` and the program's HuJSON parser the same way the tests do.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy import secret_marks
from policy.rules import PACK_NAME, POLICIES

secret_marks.install()  # rules see which inputs are secret (the SDK would unwrap them)

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
