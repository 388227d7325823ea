"""A throwaway Pulumi project for the ``pg-dr`` command's tests: this checkout's program, the tests' stacks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.project import PROJECT_DIR
from tests.support.stacks import stack


class Project:
    """A project directory with ``Pulumi.yaml`` and ``__main__.py`` copied from this checkout."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for name in ("Pulumi.yaml", "__main__.py"):
            (root / name).write_text((PROJECT_DIR / name).read_text())

    def write_stack(self, name: str, config: Mapping[str, Any] | None = None) -> Path:
        """``Pulumi.<name>.yaml`` holding ``config`` (default: the tests' prod-like stack, tailnet unmanaged)."""
        path = self.root / f"Pulumi.{name}.yaml"
        path.write_text(yaml.safe_dump({"config": dict(config if config is not None else project_stack())}))
        return path


def project_stack(**overrides: Any) -> dict[str, Any]:
    """The tests' stack with the tailnet policy found by absolute path (the project has no policy/)."""
    config = stack(**overrides)
    config["pg-dr:tailnet"] = {"manage": False, "policyFile": str(PROJECT_DIR / "policy" / "tailnet.hujson")}
    return config


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")
