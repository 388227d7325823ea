"""A backup host for tests: a stack config whose ``pg-dr:backup`` targets a real sshd (tests/support/sshd.py).

* ``host_stack(server, databases, ...)``: a ``config:`` mapping (env-provider secrets) reaching ``server``
  with the pinned host key and the user key from ``env:PGDR_TEST_SSH_KEY``;
* ``secrets_env(server, passwords)``: the environment that resolves those references;
* ``remote_commands(render)``: the registered ``command:remote:Command`` inputs by name, in
  registration (= dependency) order, ready for ``Engine.apply``;
* ``install_stand_ins(server)``: ``launchctl`` / ``systemctl`` stand-ins in the user's home that log
  each call (and keep launchd's loaded state), since neither runs in a test container, and a
  ``borgmatic`` stand-in for unprivileged users (the real one runs with ``SshServer(as_root=True)``);
* ``init_repository(server, path)``: a borg repository owned by the user, with its passcommand file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from offline.engine import Render
from tests.support.postgres import pg_bin_dir
from tests.support.pulumi_engine import dependency_order
from tests.support.sshd import SshServer
from tests.support.tools import require_borg, require_postgres

SSH_KEY_VARIABLE = "PGDR_TEST_SSH_KEY"
BORGMATIC = str(Path(sys.executable).parent / "borgmatic")
BORG = "/usr/bin/borg"
PASSPHRASE = "correct horse battery staple"

_FAKE_LAUNCHCTL = """#!/bin/sh
# launchctl stand-in: logs calls; `print` succeeds only for a bootstrapped label.
log="$HOME/launchctl.log"
state="$HOME/.launchd-loaded"
echo "$*" >> "$log"
case "$1" in
  print) grep -q -x -F -e "$2" "$state" 2>/dev/null ;;
  bootstrap)
    [ -f "$3" ] || { echo "no plist $3" >&2; exit 5; }
    printf '%s\\n' "$2/$(basename "$3" .plist)" >> "$state" ;;
  bootout)
    grep -q -x -F -e "$2" "$state" 2>/dev/null || exit 3
    grep -v -x -F -e "$2" "$state" > "$state.new"
    mv "$state.new" "$state" ;;
  *) exit 64 ;;
esac
"""

_FAKE_SYSTEMCTL = """#!/bin/sh
# systemctl stand-in: logs calls (with XDG_RUNTIME_DIR) and succeeds.
echo "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-} $*" >> "$HOME/systemctl.log"
"""

# For an unprivileged user that cannot run the project's venv (its interpreter may live under /root):
# answers --version and logs anything else. Tests that run real borgmatic use SshServer(as_root=True).
_FAKE_BORGMATIC = """#!/bin/sh
if [ "$*" = "--version" ]; then echo "2.1.10 (stand-in)"; exit 0; fi
echo "$*" >> "$HOME/borgmatic.log"
"""


def install_stand_ins(server: SshServer) -> dict[str, str]:
    """Write executable ``launchctl``, ``systemctl`` and ``borgmatic`` stand-ins into ``~/bin``; their paths."""
    bin_dir = server.home / "bin"
    bin_dir.mkdir(mode=0o755, exist_ok=True)
    os.chown(bin_dir, server.uid, server.gid)
    paths = {}
    for name, text in (("launchctl", _FAKE_LAUNCHCTL), ("systemctl", _FAKE_SYSTEMCTL), ("borgmatic", _FAKE_BORGMATIC)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
        os.chown(path, server.uid, server.gid)
        paths[name] = str(path)
    return paths


def init_repository(server: SshServer, path: str | None = None) -> tuple[str, str]:
    """``borg init --encryption repokey`` as the user; returns (repository path, passcommand)."""
    require_borg()
    repo = path or str(server.home / "backups" / "borg")
    passfile = server.home / ".borg-passphrase"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    os.chown(passfile, server.uid, server.gid)
    proc = server.as_user(
        [BORG, "init", "--encryption", "repokey", "--make-parent-dirs", repo],
        env={"BORG_PASSCOMMAND": f"cat {passfile}"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"borg init failed: {proc.stderr}")
    return repo, f"cat {passfile}"


def host_stack(
    server: SshServer,
    databases: Sequence[Mapping[str, Any]],
    *,
    repository: str | None = None,
    passcommand: str | None = None,
    schedule: Mapping[str, Any] | None = None,
    **backup: Any,
) -> dict[str, Any]:
    """A stack config (``config:`` mapping) with only ``pg-dr:backup`` (+ env secrets, unmanaged tailnet)."""
    require_postgres()  # pgBinDir below
    section: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "hostKey": server.host_key,
        "privateKey": f"env:{SSH_KEY_VARIABLE}",
        "homeDir": str(server.home),
        "borgPath": BORG,
        "borgmaticPath": BORGMATIC,
        "pgBinDir": str(pg_bin_dir()),
        "repositories": [{"path": repository or str(server.home / "backups" / "borg"), "label": "local"}],
        "encryptionPasscommand": passcommand or f"cat {server.home / '.borg-passphrase'}",
        "schedule": dict(schedule or {"kind": "none"}),
        "databases": [dict(db) for db in databases],
        "verify": False,
    }
    section.update(backup)
    return {
        "pg-dr:secrets": {"provider": "env"},
        "pg-dr:tailnet": {"manage": False},
        "pg-dr:backup": section,
    }


def secrets_env(server: SshServer, passwords: Mapping[str, str]) -> dict[str, str]:
    """Environment resolving ``env:`` references: the SSH key plus ``{variable: password}``."""
    return {SSH_KEY_VARIABLE: server.private_key, **passwords}


def remote_commands(render: Render) -> dict[str, dict[str, Any]]:
    """Registered remote commands' inputs by resource name, in dependency order (ties: by name, deterministic)."""
    return {r.name: r.inputs for r in dependency_order(render.of_type("command:remote:Command"), tie="name")}
