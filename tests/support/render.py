"""The offline engine as the tests use it: the same renders, with look-ups that only tests need.

``render_config``/``render_stack``/``run_program`` return a :class:`RenderView`, the engine's
:class:`~offline.engine.Render` plus ways to find resources by type, name and parent and to collect
every value the program marked secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from components.project import PROJECT_DIR
from components.secrets.resolver import ResolutionMode
from offline import engine
from offline.engine import RegisteredResource, Render, iter_plain_strings, iter_secrets, reveal


class RenderView(Render):
    """A render with test look-ups."""

    @classmethod
    def of(cls, render: Render) -> RenderView:
        return cls(**{f.name: getattr(render, f.name) for f in fields(Render)})

    def by_urn(self, urn: str) -> RegisteredResource:
        return next(r for r in self.resources if r.urn == urn)

    def of_type(self, type_: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> RegisteredResource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def children(self, parent: RegisteredResource) -> list[RegisteredResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def secret_values(self) -> set[str]:
        """Every string marked secret anywhere in inputs or outputs (strings nested in a secret included)."""
        found: set[str] = set()
        for value in [*(r.inputs for r in self.resources), *(r.outputs for r in self.resources), self.stack_outputs]:
            for secret in iter_secrets(value):
                found |= {text for _, text in iter_plain_strings(reveal(secret.value)) if text}
        return found


def render_config(config: Mapping[str, Any], **kwargs: Any) -> RenderView:
    return RenderView.of(engine.render_config(config, **kwargs))


def render_stack(stack: str, **kwargs: Any) -> RenderView:
    return RenderView.of(engine.render_stack(stack, **kwargs))


def run_program(
    program: Callable[[], object], *, config: Mapping[str, Any] | None = None, stack: str = "test"
) -> RenderView:
    """Run any callable as the Pulumi program under the same mocks (unit tests of a single component).

    The runtime is set up and torn down exactly as for a render, so no state leaks into later renders.
    """
    project, defaults = engine.load_project(PROJECT_DIR)
    full_config, secret_keys = engine.qualify_config(project, {**defaults, **(config or {})})
    mode = ResolutionMode(placeholders=True)
    return RenderView.of(engine.run_under_mocks(program, PROJECT_DIR, project, stack, full_config, secret_keys, mode))
