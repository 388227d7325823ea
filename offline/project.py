"""Which project ``pg-dr`` works on: found the way the ``pulumi`` CLI finds it.

``pulumi`` looks for ``Pulumi.yaml`` in the working directory and then in each parent directory, and
the Python runtime runs the ``__main__.py`` beside it. ``pg-dr`` does the same, so it renders the project
you stand in, never the directory it happens to be installed from; ``--project-dir`` names one instead.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_FILE = "Pulumi.yaml"
PROGRAM_FILE = "__main__.py"


class ProjectError(Exception):
    """No usable project: no ``Pulumi.yaml`` found, or no program beside it."""


def find_project(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding ``Pulumi.yaml``, checked by :func:`check_project`."""
    start = start.absolute()
    for directory in (start, *start.parents):
        if (directory / PROJECT_FILE).is_file():
            return check_project(directory)
    raise ProjectError(
        f"no {PROJECT_FILE} in {start} or any parent directory: run pg-dr inside a Pulumi project or pass --project-dir"
    )


def check_project(directory: Path) -> Path:
    """``directory`` (absolute) if it holds ``Pulumi.yaml`` and the Python program ``__main__.py``."""
    directory = directory.absolute()
    if not directory.is_dir():
        raise ProjectError(f"project directory {directory} does not exist or is not a directory")
    if not (directory / PROJECT_FILE).is_file():
        raise ProjectError(f"{directory} is not a Pulumi project: it has no {PROJECT_FILE}")
    if not (directory / PROGRAM_FILE).is_file():
        raise ProjectError(f"{directory} has {PROJECT_FILE} but no {PROGRAM_FILE}: pg-dr runs a Python program")
    return directory
