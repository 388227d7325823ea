"""A real PostgreSQL server for tests, runnable as root.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) ``initdb`` and ``postgres``
run as an unprivileged system user (``pgdr-test``, created on first use). Each server gets its own temp
directory owned by that user (data dir, unix socket dir, log), a free loopback TCP port, and:

* ``local`` (unix socket, dir mode 0700): ``trust`` for the superuser ``postgres`` - the setup path;
* ``host 127.0.0.1/32``: ``scram-sha-256`` for every role - what borgmatic, pg_dump and psql use.

SQL helpers shell out to the server's own ``psql`` (no Python driver needed). Passwords for TCP
connections travel in a per-call ``PGPASSFILE`` (mode 0600, deleted after), never in argv or env.

Usage::

    with PostgresServer.start() as pg:
        pg.create_role("borgmatic", password="s3cret", login=True, in_roles=["pg_read_all_data"])
        pg.create_database("miniflux")
        pg.sql("SELECT 1", db="miniflux")

Or the pytest fixtures ``postgres_server`` / ``postgres_factory`` (tests/support/pg_fixtures.py).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TEST_OS_USER = os.environ.get("PGDR_TEST_OS_USER", "pgdr-test")
SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    """A PostgreSQL command failed; carries the command's stderr."""


def pg_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb (or ``$PGDR_PG_BIN``)."""
    override = os.environ.get("PGDR_PG_BIN")
    if override:
        path = Path(override)
        if not (path / "initdb").is_file():
            raise FileNotFoundError(f"PGDR_PG_BIN={override} has no initdb")
        return path
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*") if (p / "bin" / "initdb").is_file() and p.name.replace(".", "").isdigit()),
        key=lambda p: [int(x) for x in p.name.split(".")],
    )
    if not versions:
        raise FileNotFoundError(f"no PostgreSQL server found under {root} (apt-get install postgresql)")
    return versions[-1] / "bin"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_os_user(name: str = TEST_OS_USER) -> pwd.struct_passwd:
    """The unprivileged system user servers run as; created (no login shell, no home) if absent."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class PostgresServer:
    """One running server. Create with :meth:`start`; stop with :meth:`stop` (or use as a context manager)."""

    root: Path
    port: int
    bin_dir: Path
    os_user: pwd.struct_passwd
    host: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def start(
        cls,
        *,
        name: str = "pg",
        settings: Mapping[str, str] | None = None,
        durable: bool = False,
        bin_dir: Path | None = None,
        base_dir: str | None = None,
    ) -> PostgresServer:
        """initdb + start a server on a free loopback port. ``durable=False`` turns fsync off (tests)."""
        bin_dir = bin_dir or pg_bin_dir()
        user = ensure_os_user() if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        root = Path(tempfile.mkdtemp(prefix=f"pgdr-{name}-", dir=base_dir))
        os.chmod(root, 0o755)  # others may read the log; data + socket dirs below stay 0700
        os.chown(root, user.pw_uid, user.pw_gid)
        for sub in ("sock", "tmp"):
            (root / sub).mkdir(mode=0o700)
            os.chown(root / sub, user.pw_uid, user.pw_gid)
        server = cls(root=root, port=0, bin_dir=bin_dir, os_user=user)
        try:
            server._initdb()
            server._configure(settings or {}, durable=durable)
            server._start_with_retries()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def version(self) -> int:
        return int(self.sql("SHOW server_version_num").strip()) // 10000

    def _initdb(self) -> None:
        self._run_as_owner(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )

    def _configure(self, settings: Mapping[str, str], *, durable: bool) -> None:
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": quote_literal(str(self.socket_dir)),
            "password_encryption": "'scram-sha-256'",
            "max_connections": "30",
            "shared_buffers": "'64MB'",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        if not durable:
            conf |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        conf |= dict(settings)
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write("\n# pg-dr test server\n")
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")
        hba = (
            f"local all {SUPERUSER} trust\n"
            "local all all reject\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 reject\n"
        )
        (self.data_dir / "pg_hba.conf").write_text(hba)

    def _start_with_retries(self, attempts: int = 5) -> None:
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self._run_as_owner(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "start",
                        "--wait",
                        "--timeout=60",
                        "--pgdata",
                        str(self.data_dir),
                        "--log",
                        str(self.log_file),
                        "-o",
                        f"-p {self.port}",
                    ]
                )
                return
            except PostgresError:
                log = self.log_file.read_text() if self.log_file.exists() else ""
                if "could not bind" in log and attempt + 1 < attempts:
                    self.log_file.unlink()
                    continue
                raise PostgresError(f"postgres did not start on port {self.port}:\n{log[-3000:]}") from None

    def halt(self) -> None:
        """Stop the server and keep its data (a database down for a night); :meth:`resume` starts it again."""
        self._run_as_owner(
            [str(self.bin_dir / "pg_ctl"), "stop", "-m", "fast", "--wait", "--pgdata", str(self.data_dir)]
        )

    def resume(self) -> None:
        """Start a halted server again on its port."""
        self._run_as_owner(
            [str(self.bin_dir / "pg_ctl"), "start", "--wait", "--timeout=60", "--pgdata", str(self.data_dir),
             "--log", str(self.log_file), "-o", f"-p {self.port}"]
        )  # fmt: skip

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` then remove the whole temp tree. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run_as_owner(
                    [str(self.bin_dir / "pg_ctl"), "stop", "-m", "fast", "--wait", "--pgdata", str(self.data_dir)],
                    check=False,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ running things
    def _run_as_owner(self, argv: Sequence[str], *, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.root), "TMPDIR": str(self.root / "tmp")}
        as_other = os.geteuid() != self.os_user.pw_uid
        proc = subprocess.run(
            list(argv),
            env=env,
            cwd=str(self.root),
            capture_output=True,
            text=True,
            user=self.os_user.pw_uid if as_other else None,
            group=self.os_user.pw_gid if as_other else None,
            extra_groups=[] if as_other else None,
            **kw,
        )
        if check and proc.returncode != 0:
            raise PostgresError(f"{Path(argv[0]).name} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def superuser_env(self, db: str = "postgres") -> dict[str, str]:
        """libpq environment for the trusted superuser path (unix socket)."""
        return {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
            "PGDATABASE": db,
        }

    def sql(self, sql: str, *, db: str = "postgres", check: bool = True) -> str:
        """Run SQL as the superuser over the socket; return unaligned, tuples-only stdout."""
        proc = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            input=sql,
            env=self.superuser_env(db),
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise PostgresError(proc.stderr.strip())
        return proc.stdout

    def rows(self, sql: str, *, db: str = "postgres") -> list[list[str]]:
        """Rows of a query as lists of strings (fields separated by '|', so avoid '|' in values)."""
        return [line.split("|") for line in self.sql(sql, db=db).splitlines() if line]

    def scalar(self, sql: str, *, db: str = "postgres") -> str:
        return self.sql(sql, db=db).strip()

    @contextlib.contextmanager
    def passfile(self, user: str, password: str) -> Iterator[str]:
        """A temporary 0600 .pgpass holding one line for this server; yields its path."""
        fd, path = tempfile.mkstemp(prefix="pgpass-", dir=str(self.root))
        try:
            esc_user = user.replace("\\", "\\\\").replace(":", "\\:")
            esc_pw = password.replace("\\", "\\\\").replace(":", "\\:")
            os.write(fd, f"{self.host}:{self.port}:*:{esc_user}:{esc_pw}\n".encode())
            os.close(fd)
            os.chmod(path, 0o600)
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def sql_as(
        self, user: str, password: str, sql: str, *, db: str = "postgres", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run SQL as ``user`` over TCP with scram auth (the path borgmatic uses). Returns the process."""
        with self.passfile(user, password) as pgpass:
            env = {
                "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "PGPASSFILE": pgpass,
                "PGCONNECT_TIMEOUT": "10",
            }
            proc = subprocess.run(
                [
                    str(self.bin_dir / "psql"),
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-w",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    user,
                    "-d",
                    db,
                    "-f",
                    "-",
                ],
                input=sql,
                env=env,
                capture_output=True,
                text=True,
            )
        if check and proc.returncode != 0:
            raise PostgresError(proc.stderr.strip())
        return proc

    # ------------------------------------------------------------------ objects
    def create_role(
        self,
        name: str,
        *,
        password: str | None = None,
        login: bool = True,
        in_roles: Sequence[str] = (),
        extra: str = "",
    ) -> None:
        opts = ["LOGIN" if login else "NOLOGIN"]
        if password is not None:
            opts.append(f"PASSWORD {quote_literal(password)}")
        sql = f"CREATE ROLE {quote_ident(name)} {' '.join(opts)} {extra};\n"
        for role in in_roles:
            sql += f"GRANT {quote_ident(role)} TO {quote_ident(name)};\n"
        self.sql(sql)

    def create_database(self, name: str, *, owner: str | None = None) -> None:
        owner_sql = f" OWNER {quote_ident(owner)}" if owner else ""
        self.sql(f"CREATE DATABASE {quote_ident(name)}{owner_sql}")

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    def databases(self) -> list[str]:
        return self.sql("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1").split()

    def tables(self, db: str) -> list[str]:
        """User tables of ``db`` as ``schema.table``, sorted."""
        return self.sql(
            "SELECT schemaname || '.' || relname FROM pg_stat_user_tables ORDER BY 1",
            db=db,
        ).split()

    def row_counts(self, db: str) -> dict[str, int]:
        """Exact ``count(*)`` of every user table in ``db`` (keys as in :meth:`tables`)."""
        tables = self.tables(db)
        if not tables:
            return {}
        parts = [
            f"SELECT {quote_literal(t)}, count(*) FROM {'.'.join(quote_ident(p) for p in t.split('.', 1))}"
            for t in tables
        ]
        return {name: int(n) for name, n in self.rows(" UNION ALL ".join(parts), db=db)}

    def fingerprint(self, db: str) -> dict[str, str]:
        """An md5 of every user table's full contents (ordered by the whole row), to prove 'untouched'."""
        out: dict[str, str] = {}
        for t in self.tables(db):
            qualified = ".".join(quote_ident(p) for p in t.split(".", 1))
            out[t] = self.scalar(
                f"SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM {qualified} x",
                db=db,
            )
        return out

    def dump_custom(self, db: str) -> bytes:
        """``pg_dump -Fc`` of ``db`` as the superuser, as bytes."""
        out = self.root / "tmp" / f"{db}.dump"
        where = ["-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER]
        self._run_as_owner([str(self.bin_dir / "pg_dump"), "-Fc", *where, "-f", str(out), db])
        try:
            return out.read_bytes()
        finally:
            out.unlink()

    def conninfo(self, *, user: str, db: str) -> str:
        return f"host={self.host} port={self.port} user={user} dbname={db}"
