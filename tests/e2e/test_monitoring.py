"""End to end: borgmatic's own monitoring hooks, rendered by pg-dr, ping a local Healthchecks stand-in.

Real PostgreSQL, borg, borgmatic 2.1.10 and sshd: ``pulumi up``'s registered commands deliver pg-dr's
borgmatic config (a secret, since the ping URL is a secret reference) and ``pg-dr-report``; the
verification's ``borgmatic config validate`` accepts it and its ``borgmatic create`` pings ``/start`` and
success with the log. Then a failing night: the database is down, the scheduled command (the service's
ExecStart, run with the unit's environment) fails and the ``/fail`` ping's body names the database. The
backup's success metric is written by borgmatic's ``after`` hook on success only. Coverage: a database on the server
that is not configured is reported by the verification and counted in the metrics.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from components.borgmatic.plan import borgmatic_argv, borgmatic_config
from components.config.stack import parse_stack_config
from components.monitoring.plan import parse_uncovered, report_script
from tests.support.backup_host import host_stack, init_repository, remote_commands, secrets_env
from tests.support.ping_server import PingServer
from tests.support.postgres import PostgresServer
from tests.support.render import render_config
from tests.support.sshd import Engine, SshServer

PASSWORD = "monitor pass"


def test_borgmatic_pings_start_success_and_a_fail_naming_the_database(
    root_sshd: SshServer, postgres_factory: Callable[..., PostgresServer]
) -> None:
    server = root_sshd
    pg = postgres_factory(name="mon")
    pg.create_role("borgmatic", password=PASSWORD, login=True, in_roles=["pg_read_all_data"])
    pg.create_database("miniflux")
    pg.create_database("newapp")  # a new app's database nobody added to pg-dr:backup.databases
    init_repository(server)
    metrics = server.home / "textfile" / "pg-dr.prom"
    with PingServer() as hc:
        config = host_stack(
            server,
            [{"name": "miniflux", "hostname": "127.0.0.1", "port": pg.port, "username": "borgmatic",
              "password": "env:PW"}],
            verify=True,
            monitoring={"healthchecks": {"pingUrl": "env:HC_URL"}},
            metrics={"textfilePath": str(metrics)},
        )  # fmt: skip
        ping_url = hc.url("/ping/0f3c-secret-uuid")
        environ = secrets_env(server, {"PW": PASSWORD, "HC_URL": ping_url})
        render = render_config(config, resolve_secrets=True, environ=environ)
        assert any(ping_url in value for value in render.secret_values())  # the config holding it is secret
        assert all(ping_url not in text for text in render.render_files().values())
        steps = {s.name: s for s in Engine(server).apply(remote_commands(render))}
        for step in steps.values():
            assert step.ok, f"{step.name}:\n{step.proc.stdout}\n{step.proc.stderr}"
        assert "borgmatic-report" in steps
        verify = steps["borgmatic-verify"].proc
        assert "All configuration files are valid" in verify.stdout
        assert ping_url not in verify.stdout + verify.stderr
        # coverage: the database on the server that is not backed up is reported, and counted
        assert parse_uncovered(verify.stdout) == [f"127.0.0.1:{pg.port}/newapp"]
        assert f"database newapp on 127.0.0.1:{pg.port} is not backed up" in verify.stderr
        assert "pgdr_backup_uncovered_databases 1" in metrics.read_text().splitlines()
        paths = hc.paths()
        assert paths[0] == "/ping/0f3c-secret-uuid/start" and "/ping/0f3c-secret-uuid" in paths
        assert "/ping/0f3c-secret-uuid/fail" not in paths
        success = [p for p in hc.requests if p.path == "/ping/0f3c-secret-uuid"][-1]
        assert "Dumping PostgreSQL databases" in success.body  # send_logs: the log comes with the ping
        first = metrics.read_text()
        assert (
            f'pgdr_backup_last_success_timestamp_seconds{{database="miniflux",server="127.0.0.1:{pg.port}"}}' in first
        )

        # a failing night: the database is down; run what the timer runs, as the unit has it
        pg.halt()
        hc.requests.clear()
        backup = parse_stack_config({k.split(":", 1)[1]: v for k, v in config.items()}).backup
        assert backup is not None
        argv = " ".join(shlex.quote(a) for a in borgmatic_argv(backup))
        proc = server.run(f"/usr/bin/env -i HOME={shlex.quote(str(server.home))} PATH=/usr/bin:/bin {argv}")
        assert proc.returncode != 0
        fail = [p for p in hc.requests if p.path == "/ping/0f3c-secret-uuid/fail"]
        assert len(fail) == 1, hc.paths()
        assert "miniflux" in fail[0].body and str(pg.port) in fail[0].body
        assert metrics.read_text() == first  # no success metric for a failed night

        # with a scheduled drill, borgmatic's hooks take pg-dr's run lock: a night while a drill holds it
        # waits (runLockWaitSeconds, 0 here) and then fails loudly; the next night runs and releases it
        pg.resume()
        locked = backup.model_copy(update={"run_lock_wait_seconds": 0})
        ref = backup.monitoring.secret_refs()[0]
        Path(backup.resolved_config_path).write_text(borgmatic_config(locked, {ref: ping_url}, drill_scheduled=True))
        Path(backup.report_path).write_text(report_script(locked))
        lock = Path(backup.lock_path)
        lock.parent.mkdir(parents=True, exist_ok=True)
        drill = subprocess.Popen(["sleep", "120"])
        try:
            lock.symlink_to(str(drill.pid))
            hc.requests.clear()
            proc = server.run(f"/usr/bin/env -i HOME={shlex.quote(str(server.home))} PATH=/usr/bin:/bin {argv}")
            assert proc.returncode != 0
            fail = [p for p in hc.requests if p.path == "/ping/0f3c-secret-uuid/fail"]
            assert len(fail) == 1 and f"another pg-dr run (pid {drill.pid}) still holds" in fail[0].body
            assert os.readlink(lock) == str(drill.pid)  # the drill's lock is left alone
        finally:
            drill.kill()
            drill.wait()
        hc.requests.clear()
        proc = server.run(f"/usr/bin/env -i HOME={shlex.quote(str(server.home))} PATH=/usr/bin:/bin {argv}")
        assert proc.returncode == 0, proc.stderr
        assert "/ping/0f3c-secret-uuid" in hc.paths() and not lock.exists()  # taken over, then released
