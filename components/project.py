"""Where the project is: the one definition of the project directory (the folder holding ``Pulumi.yaml``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi

# The checkout this code was loaded from (an editable install points here).
PROJECT_DIR = Path(__file__).resolve().parent.parent


def project_directory() -> Path:
    """Where ``Pulumi.yaml`` lives: the engine's root directory, else the running program's directory.

    The CLI sets the root directory; the offline engine runs ``__main__.py`` of the project like the
    CLI does, so the program's own directory is the project directory. Never the working directory.
    """
    candidates = []
    root = pulumi.get_root_directory()  # the unset default is a relative placeholder, skipped below
    if root:
        candidates.append(Path(root))
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file:
        candidates.append(Path(main_file).resolve().parent)
    for candidate in candidates:
        if candidate.is_absolute() and (candidate / "Pulumi.yaml").is_file():
            return candidate
    return PROJECT_DIR
