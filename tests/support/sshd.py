"""A real OpenSSH server on loopback, and a runner that executes remote commands as pulumi-command does.

``SshServer.start()`` (as root) creates a throwaway login user with a temporary home, generates an
ed25519 host key and an ed25519 user key, and runs ``/usr/sbin/sshd -D`` on a free 127.0.0.1 port:

* key authentication only (no password, no PAM), ``AllowUsers`` = the throwaway user;
* ``AuthorizedKeysFile`` inside the server's temp dir (``StrictModes no``: the temp tree lives in /tmp);
* no ``AcceptEnv``, like macOS: environment variables sent by a client are refused;
* the user's login shell is zsh when installed (macOS's default), else /bin/sh, so commands must not
  depend on the login shell.

pulumi-command's ``remote.Command`` opens one SSH session per operation and runs ``session.Run(cmd)``
with the operation's command string (``create``, ``update`` or ``delete``); when ``stdin`` is non-empty
it is fed to the command (on ``delete`` too: the provider replays the stored state). ``run_registered``
does exactly that with the real ``ssh`` client: the command string is sent verbatim, ``connection.user``
is the login user, the host key is pinned with a known_hosts built from ``connection.hostKey`` (no
``hostKey`` = not checked, as the provider does), and the key comes from ``connection.privateKey`` or,
without it, from the SSH agent (``connection.agentSocketPath`` or ``SSH_AUTH_SOCK``).

``Engine`` (tests/support/pulumi_engine.py, re-exported here) applies successive sets of registered
``command:remote:Command`` inputs the way the Pulumi engine would (create / nothing when unchanged /
update / replace when ``triggers`` change, create before delete / delete when gone), so tests can prove
"a second apply changes nothing" end to end.

``SshServer.start(as_root=True)`` makes the login user a uid-0 alias with its own temp home, for
commands that run programs only root can reach (this project's venv interpreter may live under /root).

Usage::

    with SshServer.start() as server:
        conn = server.connection()                 # {"host", "port", "user", "hostKey", "privateKey"}
        proc = server.run("/bin/sh -c 'cat > x'", stdin="hello")
        proc = server.run_registered(resource.inputs, "create")   # a RegisteredResource from render_config

pytest fixtures: ``sshd_server`` (tests/support/sshd_fixtures.py, imported by tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from offline.engine import reveal as _reveal
from tests.support.pulumi_engine import Engine, Step

__all__ = ["Engine", "SshError", "SshServer", "Step"]

SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
SSH_AGENT = "/usr/bin/ssh-agent"
SSH_ADD = "/usr/bin/ssh-add"
LOGIN_SHELLS = ("/usr/bin/zsh", "/bin/zsh", "/bin/sh")
Phase = Literal["create", "update", "delete"]


class SshError(RuntimeError):
    """The server could not start, or a remote command failed when ``check=True``."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


@dataclass
class SshServer:
    """One running sshd with its throwaway user. Create with :meth:`start`; :meth:`stop` removes everything."""

    root: Path
    port: int
    user: str
    home: Path
    shell: str
    host_key: str  # "ssh-ed25519 AAAA..." as connection.hostKey takes it
    private_key: str = field(repr=False)  # the user key (OpenSSH PEM), as connection.privateKey takes it
    public_key: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _agents: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _stopped: bool = field(default=False, repr=False)
    host: str = "127.0.0.1"
    as_root: bool = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def start(cls, *, shell: str | None = None, as_root: bool = False, base_dir: str | None = None) -> SshServer:
        """Create the user and keys, start sshd on a free loopback port, wait until it answers.

        ``as_root=True`` makes the throwaway user a uid-0 alias (``useradd -o -u 0``) with its own temp
        home: for commands that must run programs only root can reach (this project's venv interpreter
        may live under /root, mode 0700). Default: an unprivileged user, like the real backup host.
        """
        if os.geteuid() != 0:
            raise SshError("the sshd fixture needs root (it creates a throwaway login user)")
        for tool in (SSHD, SSH, SSH_KEYGEN):
            if not os.access(tool, os.X_OK):
                raise SshError(f"{tool} is missing (apt-get install openssh-server openssh-client)")
        shell = shell or next(s for s in LOGIN_SHELLS if os.access(s, os.X_OK))
        root = Path(tempfile.mkdtemp(prefix="pgdr-sshd-", dir=base_dir))
        os.chmod(root, 0o755)
        user = f"pgdr-{'root' if as_root else 'ssh'}-{secrets.token_hex(4)}"
        home = root / "home"
        server: SshServer | None = None
        try:
            ids = ["--non-unique", "--uid", "0", "--gid", "0"] if as_root else []
            subprocess.run(
                [
                    "useradd",
                    *ids,
                    "--no-create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    shell,
                    "--password",
                    "*",
                    user,
                ],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(user)
            home.mkdir(mode=0o700)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            _keygen(root / "ssh_host_ed25519_key", "pg-dr test host")
            _keygen(root / "user_key", f"{user}@pg-dr-test")
            (root / "authorized_keys").mkdir()
            public_key = (root / "user_key.pub").read_text().strip()
            (root / "authorized_keys" / user).write_text(public_key + "\n")
            host_pub = (root / "ssh_host_ed25519_key.pub").read_text().split()
            server = cls(
                root=root,
                port=0,
                user=user,
                home=home,
                shell=shell,
                host_key=f"{host_pub[0]} {host_pub[1]}",
                private_key=(root / "user_key").read_text(),
                public_key=public_key,
                as_root=as_root,
            )
            server._launch()
        except BaseException:
            if server is not None:
                server.stop()
            else:
                subprocess.run(["userdel", user], capture_output=True)
                shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def _config(self) -> str:
        return "\n".join(
            [
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.root / 'ssh_host_ed25519_key'}",
                f"PidFile {self.root / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.root / 'authorized_keys'}/%u",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                f"PermitRootLogin {'prohibit-password' if self.as_root else 'no'}",
                f"AllowUsers {self.user}",
                "PrintMotd no",
                "PrintLastLog no",
                "LogLevel VERBOSE",
                "",
            ]
        )

    def _launch(self, attempts: int = 5) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        for _ in range(attempts):
            self.port = _free_port()
            (self.root / "sshd_config").write_text(self._config())
            log = open(self.root / "sshd.log", "ab")  # noqa: SIM115 - owned by the process
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
            if self._wait_ready():
                return
            self._kill()
        raise SshError(f"sshd did not start:\n{self.log()[-3000:]}")

    def _wait_ready(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return True
            time.sleep(0.05)
        return False

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        """Stop sshd and the agents it started, delete the throwaway user and the temp tree."""
        if self._stopped:
            return
        self._stopped = True
        self._kill()
        for agent in self._agents:
            agent.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                agent.wait(timeout=5)
        subprocess.run(["userdel", "--force", self.user], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SshServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        path = self.root / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # ------------------------------------------------------------------ the user side
    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    @property
    def gid(self) -> int:
        return pwd.getpwnam(self.user).pw_gid

    def connection(self, **overrides: Any) -> dict[str, Any]:
        """``remote.Command`` connection inputs (camelCase) reaching this server with the pinned host key."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "hostKey": self.host_key,
            "privateKey": self.private_key,
            **overrides,
        }

    def start_agent(self) -> str:
        """Start an ssh-agent holding the user key; returns its socket path (for ``agentSocketPath``)."""
        sock = self.root / f"agent-{len(self._agents)}.sock"
        agent = subprocess.Popen(
            [SSH_AGENT, "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._agents.append(agent)
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline or agent.poll() is not None:
                raise SshError("ssh-agent did not start")
            time.sleep(0.02)
        subprocess.run(
            [SSH_ADD, "-q", str(self.root / "user_key")],
            env={"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )
        return str(sock)

    def as_user(self, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a local command as the throwaway user with its HOME (for checks outside SSH)."""
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LANG": "C.UTF-8", **kw.pop("env", {})}
        return subprocess.run(
            list(argv),
            env=env,
            cwd=str(self.home),
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            **kw,
        )

    # ------------------------------------------------------------------ running commands
    def run(
        self,
        command: str,
        *,
        stdin: str | None = None,
        connection: Mapping[str, Any] | None = None,
        check: bool = False,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` over SSH exactly as pulumi-command's provider would with ``connection``."""
        conn = _reveal(dict(connection if connection is not None else self.connection()))
        with tempfile.TemporaryDirectory(prefix="ssh-client-", dir=self.root) as tmp:
            client = Path(tmp)
            argv = [SSH, "-F", "/dev/null", "-T", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
            argv += ["-o", "ConnectTimeout=15", "-o", "GlobalKnownHostsFile=/dev/null"]
            host, port = str(conn["host"]), int(conn.get("port") or 22)
            # pulumi-command's default user is root: pass it through so a missing user fails the same way.
            user = str(conn.get("user") or "root")
            host_key = conn.get("hostKey")
            if host_key:
                key_type = str(host_key).split()[0]
                (client / "known_hosts").write_text(f"[{host}]:{port} {host_key}\n")
                argv += ["-o", f"UserKnownHostsFile={client / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes"]
                argv += ["-o", f"HostKeyAlgorithms={key_type}"]
            else:  # the provider ignores host keys when none is pinned
                argv += ["-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no"]
            env = {"PATH": "/usr/bin:/bin", "HOME": str(client)}
            if conn.get("privateKey"):
                key_file = client / "id"
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(str(conn["privateKey"]).rstrip("\n") + "\n")
                argv += ["-i", str(key_file), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
            else:
                agent = conn.get("agentSocketPath") or os.environ.get("SSH_AUTH_SOCK")
                if not agent:
                    raise SshError("no privateKey and no SSH agent: the provider would have no credentials")
                argv += ["-o", f"IdentityAgent={agent}"]
            argv += ["-p", str(port), "-l", user, host, "--", command]
            proc = subprocess.run(
                argv,
                input=stdin if stdin else "",
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        if check and proc.returncode != 0:
            raise SshError(f"remote command failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def run_registered(
        self, inputs: Mapping[str, Any], phase: Phase, *, check: bool = False
    ) -> subprocess.CompletedProcess[str] | None:
        """Run a registered ``command:remote:Command``'s ``phase`` as the provider would; None if it has none.

        ``update`` falls back to ``create`` when the resource has no ``update`` command (the provider's rule).
        """
        data = _reveal(dict(inputs))
        command = data.get(phase)
        if phase == "update" and not command:
            command = data.get("create")
        if not command:
            return None
        return self.run(command, stdin=data.get("stdin") or None, connection=data["connection"], check=check)
