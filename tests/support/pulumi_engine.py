"""The Pulumi engine's rules for ``command:remote:Command``, applied over a real sshd (tests/support/sshd.py).

``Engine(server).apply({name: inputs, ...})`` runs what ``pulumi up`` would run for each registered
command, in the given (dependency) order, and returns the steps it took. Re-exported by
``tests.support.sshd``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from offline.engine import reveal as _reveal

if TYPE_CHECKING:
    from tests.support.sshd import SshServer


@dataclass
class Step:
    name: str
    op: Literal["create", "update", "replace-create", "replace-delete", "delete"]
    proc: subprocess.CompletedProcess[str] | None

    @property
    def ok(self) -> bool:
        return self.proc is None or self.proc.returncode == 0


class Engine:
    """Applies successive states of named ``remote.Command`` inputs like ``pulumi up`` would.

    ``apply({"name": inputs, ...})`` (in dependency order) runs, per resource: ``create`` when new,
    nothing when the inputs are unchanged, ``update`` (or ``create``) when they changed, and on a
    ``triggers`` change a replacement (create the new one, then delete the old: Pulumi's default
    create-before-delete). Resources gone from the new state are deleted, in reverse order. A failing
    step stops the apply (the failed resource keeps its old state), like the engine.
    """

    def __init__(self, server: SshServer):
        self.server = server
        self.state: dict[str, dict[str, Any]] = {}

    def apply(self, resources: Mapping[str, Mapping[str, Any]]) -> list[Step]:
        steps: list[Step] = []
        new = {name: _reveal(dict(inputs)) for name, inputs in resources.items()}
        for name, inputs in new.items():
            old = self.state.get(name)
            if old is None:
                step = Step(name, "create", self.server.run_registered(inputs, "create"))
            elif _canonical(old) == _canonical(inputs):
                continue
            elif _canonical(old.get("triggers")) != _canonical(inputs.get("triggers")):
                step = Step(name, "replace-create", self.server.run_registered(inputs, "create"))
                steps.append(step)
                if not step.ok:
                    return steps
                step = Step(name, "replace-delete", self.server.run_registered(old, "delete"))
            else:
                step = Step(name, "update", self.server.run_registered(inputs, "update"))
            steps.append(step)
            if not step.ok:
                return steps
            self.state[name] = inputs
        for name in reversed([n for n in self.state if n not in new]):
            step = Step(name, "delete", self.server.run_registered(self.state[name], "delete"))
            steps.append(step)
            if not step.ok:
                return steps
            del self.state[name]
        return steps


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
