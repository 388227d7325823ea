"""What the real-tool test tiers need from the machine, checked in one place.

On a developer's machine a missing tool skips the test and names the Debian package that provides it;
under CI (``CI=true``, as GitHub Actions, GitLab and most CI systems set it) the same absence fails the
run, so nothing is ever skipped silently there.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

CI_TRUE = ("true", "1", "yes")


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_TRUE


def missing(message: str) -> NoReturn:
    """Skip with ``message``, or fail under CI. Never returns."""
    if under_ci():
        pytest.fail(f"{message} (CI=true: a missing requirement fails the run)", pytrace=False)
    pytest.skip(message)


def require_tool(name: str, package: str) -> str:
    """The path of ``name`` (a command on PATH, or an absolute path); skip or fail naming ``package`` if absent."""
    found = (name if os.access(name, os.X_OK) else None) if os.path.isabs(name) else shutil.which(name)
    if found is None:
        missing(f"{name} not found: install the Debian package {package} (apt-get install {package})")
    return str(found)


def require_root(why: str) -> None:
    """Skip (fail under CI) unless running as root."""
    if os.geteuid() != 0:
        missing(f"needs root: {why}")


def require_postgres() -> None:
    """A PostgreSQL server installation (``initdb``, ``pg_ctl``, ``psql`` under /usr/lib/postgresql/<version>)."""
    from tests.support.postgres import pg_bin_dir

    try:
        pg_bin_dir()
    except FileNotFoundError as exc:
        missing(f"{exc}: install the Debian package postgresql")


def require_sshd() -> None:
    """What the sshd fixtures run: root (they create throwaway users), sshd, the client tools and zsh."""
    require_root("the sshd fixtures create a throwaway login user per server")
    require_tool("/usr/sbin/sshd", "openssh-server")
    for tool in ("/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/ssh-agent", "/usr/bin/ssh-add"):
        require_tool(tool, "openssh-client")
    require_tool("zsh", "zsh")  # the login shell, like macOS's


def require_borg() -> None:
    require_tool("/usr/bin/borg", "borgbackup")
