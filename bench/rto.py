"""RTO benchmark: borgmatic backup/restore vs raw pg_dump -Fc / pg_restore on a ~500 MB miniflux database.

    .venv/bin/python bench/rto.py                       # raw baseline + the variant pg-dr renders
    .venv/bin/python bench/rto.py --variants all        # every variant tried (~1 min more per variant)
    .venv/bin/python bench/rto.py --entries 5000 --out /tmp/r   # a quick small run

Two real PostgreSQL servers (the "brew" source and the "k8s-pg" restore target, fsync on), real borg
and borgmatic, an encrypted (repokey-blake2) repository on the same disk. For each variant: one
``borgmatic create`` of the source database (dumped by the read-only ``borgmatic`` role, exactly the
role CNPG creates); a second ``create`` after a day of churn (what borg adds to the repository); then
``borgmatic restore --archive latest`` into an empty ``miniflux`` database on the target
(``--original-hostname/--original-port`` pick the dump, ``--hostname/--port/--username`` the target),
and the row counts compared. The baseline is a raw ``pg_dump -Fc`` to a file and a raw ``pg_restore``
of that file into the same empty target. Writes ``results.json`` and ``results.md``.

Not a test: numbers depend on the machine. Work files live in bench/work/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_reports  # noqa: E402
from bench.variants import DEFAULT_VARIANT, VARIANTS, Variant  # noqa: E402
from tests.support import miniflux  # noqa: E402
from tests.support.cnpg_sql import borgmatic_role_sql  # noqa: E402
from tests.support.postgres import PostgresServer, quote_literal  # noqa: E402

BORG = shutil.which("borg") or "/usr/bin/borg"
BORGMATIC = str(ROOT / ".venv" / "bin" / "borgmatic")
BACKUP_PW = "bench-borgmatic-pw"  # throwaway servers; passwords only in the 0600 passfile below
RESTORE_PW = "bench-restore-pw"
SERVER_SETTINGS = {"shared_buffers": "'128MB'", "maintenance_work_mem": "'64MB'", "max_wal_size": "'1GB'"}


@dataclass
class Timing:
    name: str
    backup_s: float
    restore_s: float
    archive_bytes: int | None = None
    incremental_s: float | None = None
    incremental_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    restore_ratio: float = 0.0
    backup_ratio: float = 0.0
    raw_backup_s: float | None = None  # the raw pg_dump -Fc / pg_restore runs alternated with this variant's
    raw_restore_s: float | None = None


def run(argv: list[str], env: dict[str, str]) -> float:
    """Run a command, fail loudly, return wall seconds."""
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return elapsed


class Bench:
    def __init__(self, work: Path, source: PostgresServer, target: PostgresServer, repeat: int = 1):
        self.work, self.source, self.target, self.repeat = work, source, target, repeat
        self.bin = source.bin_dir
        passfile = work / "pgpass"
        passfile.write_text(
            f"127.0.0.1:{source.port}:*:borgmatic:{BACKUP_PW}\n127.0.0.1:{target.port}:*:eblume:{RESTORE_PW}\n"
        )
        passfile.chmod(0o600)
        (work / "passphrase").write_text("bench passphrase, not a secret\n")
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(work),
            "PGPASSFILE": str(passfile),
            "BORG_BASE_DIR": str(work / "borgbase"),
        }

    @staticmethod
    def at(server: PostgresServer, user: str) -> list[str]:
        return ["--no-password", "-h", "127.0.0.1", "-p", str(server.port), "-U", user, "-d", "miniflux"]

    def settle(self) -> None:
        self.target.sql("CHECKPOINT")
        self.source.sql("CHECKPOINT")
        subprocess.run(["sync"], check=True)

    def reset_target(self) -> None:
        self.target.drop_database("miniflux")
        self.target.create_database("miniflux", owner="eblume")
        self.settle()

    def verify(self, expected: dict[str, int]) -> None:
        got = self.target.row_counts("miniflux")
        if got != expected:
            raise SystemExit(f"restored counts differ: {got} != {expected}")

    # ------------------------------------------------------------------ raw baseline
    def best(self, measure: Callable[[], float]) -> float:
        """The fastest of ``repeat`` runs: other load on the machine only ever adds time."""
        return min(measure() for _ in range(self.repeat))

    @property
    def raw_dump(self) -> Path:
        return self.work / "raw.dump"

    def raw_dump_once(self) -> float:
        """``pg_dump -Fc`` of the source to a file, as the backup role."""
        self.settle()
        pg_dump = [str(self.bin / "pg_dump"), "-Fc", *self.at(self.source, "borgmatic"), "-f", str(self.raw_dump)]
        return run(pg_dump, self.env)

    def raw_restore_once(self, expected: dict[str, int], *extra: str) -> float:
        """``pg_restore`` of that file into an empty target database."""
        self.reset_target()
        elapsed = run(
            [str(self.bin / "pg_restore"), *self.at(self.target, "eblume"), *extra, str(self.raw_dump)], self.env
        )
        self.verify(expected)
        return elapsed

    def raw(self, expected: dict[str, int], jobs: int) -> tuple[Timing, list[Timing]]:
        t_dump = self.best(self.raw_dump_once)
        t_restore = self.best(lambda: self.raw_restore_once(expected))
        t_analyze = run([str(self.bin / "psql"), "-X", *self.at(self.target, "eblume"), "-c", "ANALYZE"], self.env)
        base = Timing("raw pg_dump -Fc / pg_restore", t_dump, t_restore, self.raw_dump.stat().st_size)
        extra = [Timing("raw pg_restore + ANALYZE (what borgmatic restore also does)", t_dump, t_restore + t_analyze)]
        t_jobs = self.best(lambda: self.raw_restore_once(expected, f"--jobs={jobs}"))
        extra.append(Timing(f"raw pg_restore --jobs {jobs}", t_dump, t_jobs))
        return base, extra

    # ------------------------------------------------------------------ borgmatic
    def config(self, v: Variant, repo: Path) -> Path:
        db: dict[str, object] = {
            "name": "miniflux",
            "hostname": "127.0.0.1",
            "port": self.source.port,
            "username": "borgmatic",
            "format": v.dump_format,
            "pg_dump_command": str(self.bin / "pg_dump"),
            "pg_restore_command": str(self.bin / "pg_restore"),
            "psql_command": str(self.bin / "psql"),
        }
        optional = {
            "compression": v.dump_compression,
            "options": v.dump_options,
            "label": v.label,
            "restore_options": v.restore_options,
        }
        db |= {k: value for k, value in optional.items() if value is not None}
        cfg = {
            "repositories": [{"path": str(repo), "label": "bench"}],
            "encryption_passcommand": f"cat {self.work / 'passphrase'}",
            "local_path": BORG,
            "compression": v.borg_compression,
            "user_runtime_directory": str(self.work / "runtime"),
            "postgresql_databases": [db],
        }
        path = self.work / f"borgmatic-{v.name}.yaml"
        path.write_text(json.dumps(cfg, indent=2))  # JSON is YAML
        return path

    def variant(self, v: Variant, expected: dict[str, int]) -> Timing:
        repo = self.work / f"repo-{v.name}"
        (self.work / "runtime").mkdir(exist_ok=True, mode=0o700)
        bm = [BORGMATIC, "--config", str(self.config(v, repo))]

        def backup_once() -> float:
            shutil.rmtree(repo, ignore_errors=True)
            run([*bm, "repo-create", "--encryption", "repokey-blake2"], self.env)
            self.settle()
            return run([*bm, "create"], self.env)

        # Raw and borgmatic runs alternate, each ratio against the raw runs next to it in time.
        raw_backup, t_backup = self.alternate(self.raw_dump_once, backup_once)
        first = self.archive_stats(repo)
        size = first["compressed_size"]
        # A second backup after a day of churn: what borg actually adds to the repository.
        self.source.sql(miniflux.CHURN, db="miniflux")
        self.settle()
        t_incr = run([*bm, "create"], self.env)
        added = self.archive_stats(repo)["deduplicated_size"]
        restore = [
            *bm,
            *("restore", "--archive", first["name"], "--database", "miniflux"),
            *("--original-hostname", "127.0.0.1", "--original-port", str(self.source.port)),
            *("--hostname", "127.0.0.1", "--port", str(self.target.port), "--username", "eblume"),
        ]

        def restore_once() -> float:
            self.reset_target()
            elapsed = run(restore, self.env)
            self.verify(expected)
            return elapsed

        raw_restore, t_restore = self.alternate(lambda: self.raw_restore_once(expected), restore_once)
        self.source.sql(miniflux.UNDO_CHURN, db="miniflux")
        if self.source.row_counts("miniflux") != expected:
            raise SystemExit("could not undo the churn")
        shutil.rmtree(repo)
        t = Timing(v.name, t_backup, t_restore, size, t_incr, added, [v.describe()])
        t.raw_backup_s, t.raw_restore_s = raw_backup, raw_restore
        t.backup_ratio, t.restore_ratio = t_backup / raw_backup, t_restore / raw_restore
        return t

    def alternate(self, raw: Callable[[], float], borgmatic: Callable[[], float]) -> tuple[float, float]:
        """``repeat`` x (raw, borgmatic); the fastest of each."""
        pairs = [(raw(), borgmatic()) for _ in range(self.repeat)]
        return min(p[0] for p in pairs), min(p[1] for p in pairs)

    def archive_stats(self, repo: Path) -> dict[str, Any]:
        """borg's stats of the latest archive (compressed_size, deduplicated_size, ...) and its name."""
        env = self.env | {"BORG_PASSCOMMAND": f"cat {self.work / 'passphrase'}"}
        name = subprocess.run(
            [BORG, "list", "--last", "1", "--format", "{archive}", str(repo)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        info = subprocess.run(
            [BORG, "info", "--json", f"{repo}::{name}"], env=env, capture_output=True, text=True, check=True
        ).stdout
        return {"name": name, **json.loads(info)["archives"][0]["stats"]}


def fixed_cost(work: Path, target: PostgresServer, repeat: int) -> Timing:
    """The default variant on the runbook's 44-entry database: what borgmatic adds whatever the size."""
    with PostgresServer.start(name="bench-tiny", durable=True, settings=SERVER_SETTINGS) as tiny:
        miniflux.create_runbook_database(tiny)
        tiny.sql(borgmatic_role_sql(BACKUP_PW))
        (work / "tiny").mkdir(mode=0o700)
        timing = Bench(work / "tiny", tiny, target, repeat).variant(VARIANTS[DEFAULT_VARIANT], miniflux.RUNBOOK_COUNTS)
        timing.name = f"{DEFAULT_VARIANT} on the runbook's 44-entry database"
        return timing


def build_source(entries: int) -> tuple[PostgresServer, dict[str, int], int, float]:
    source = PostgresServer.start(name="bench-brew", durable=True, settings=SERVER_SETTINGS)
    start = time.perf_counter()
    source.create_role("miniflux", login=False)
    source.create_database("miniflux", owner="miniflux")
    source.sql('SET ROLE "miniflux";\n' + miniflux.SCHEMA, db="miniflux")
    counts = miniflux.generate(source, "miniflux", entries=entries)
    source.sql(borgmatic_role_sql(BACKUP_PW))
    size = int(source.scalar("SELECT pg_database_size('miniflux')"))
    return source, counts, size, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=112000, help="entries to generate (112000 ~ 500 MB)")
    parser.add_argument("--variants", default="default", help="'default', 'all' or comma-separated names")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel jobs for the raw -j run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the fastest counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where the results go")
    parser.add_argument("--name", default="results", help="results file stem (<out>/<name>.json and .md)")
    args = parser.parse_args(argv)
    if args.variants == "default":
        names = [DEFAULT_VARIANT]
    elif args.variants == "all":
        names = list(VARIANTS)
    else:
        names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")

    work = ROOT / "bench" / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, mode=0o700)
    t0 = time.perf_counter()
    print(f"generating {args.entries} entries ...", flush=True)
    source, counts, db_bytes, t_gen = build_source(args.entries)
    target = PostgresServer.start(name="bench-k8s-pg", durable=True, settings=SERVER_SETTINGS)
    results: list[Timing] = []
    try:
        target.create_role("miniflux", login=False)
        target.sql(f"CREATE ROLE eblume LOGIN SUPERUSER PASSWORD {quote_literal(RESTORE_PW)}")
        print(f"database: {db_bytes / 1e6:.0f} MB in {t_gen:.0f}s; counts {counts}", flush=True)
        bench = Bench(work, source, target, args.repeat)
        base, extra = bench.raw(counts, args.jobs)
        print(f"raw: dump {base.backup_s:.1f}s restore {base.restore_s:.1f}s size {base.archive_bytes}", flush=True)
        for t in extra:
            t.backup_ratio, t.restore_ratio = 1.0, t.restore_s / base.restore_s
        fixed = fixed_cost(work, target, args.repeat)
        print(
            f"fixed cost (44 entries): restore {fixed.restore_s:.1f}s vs {fixed.raw_restore_s:.1f}s, "
            f"backup {fixed.backup_s:.1f}s vs {fixed.raw_backup_s:.1f}s",
            flush=True,
        )
        for name in names:
            t = bench.variant(VARIANTS[name], counts)
            print(
                f"{name}: backup {t.backup_s:.1f}s vs {t.raw_backup_s:.1f}s ({t.backup_ratio:.2f}x) "
                f"restore {t.restore_s:.1f}s vs {t.raw_restore_s:.1f}s ({t.restore_ratio:.2f}x) "
                f"archive {(t.archive_bytes or 0) / 1e6:.0f} MB, "
                f"next day +{(t.incremental_bytes or 0) / 1e6:.1f} MB in {t.incremental_s or 0:.1f}s",
                flush=True,
            )
            results.append(t)
    finally:
        target.stop()
        source.stop()
    meta = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}",
        "postgresql": source.bin_dir.parent.name,
        "borg": subprocess.run([BORG, "--version"], capture_output=True, text=True).stdout.strip(),
        "borgmatic": "borgmatic "
        + subprocess.run([BORGMATIC, "--version"], capture_output=True, text=True).stdout.strip(),
        "entries": args.entries,
        "repeat": args.repeat,
        "row_counts": counts,
        "database_bytes": db_bytes,
        "generate_s": round(t_gen, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "default_variant": DEFAULT_VARIANT,
        "command": " ".join(["python bench/rto.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    payload = {
        "meta": meta,
        "baseline": asdict(base),
        "baseline_extra": [asdict(t) for t in extra],
        "fixed_cost": asdict(fixed),
        "variants": [asdict(t) for t in results],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_reports(payload, args.out, args.name)
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.out / args.name}.json and .md in {meta['total_s']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
