"""Every accepted retention, check and archive-name value of the tests' generators makes a night that
succeeds, with real borgmatic 2.1.10 and borg, in repositories another borgmatic config also writes to
(issue 16). The other config is what indri's Ansible role writes: borgmatic's default archive names
``{hostname}-{now}`` and no ``match_archives`` (borgmatic derives ``sh:{hostname}-*``).

The values come from ``tests/support/borgmatic_values.py`` (the lists the unit tests draw from); each pg-dr
config is rendered by ``plan.borgmatic_config`` from a config ``check`` accepted. Its databases are
replaced by a small source directory (PostgreSQL dumps are the e2e tier's; the keys under test here are
retention, checks and archive names). Each pg-dr config gets its own repository, shared with the other
config (two pg-dr formats with one-second names could collide in one repository within a second), and
all of them run in one borgmatic invocation.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from components.borgmatic import plan
from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from tests.support import borgmatic_values as values
from tests.support.backup_host import BORG, BORGMATIC
from tests.support.stacks import BASE, raw_sections
from tests.support.tools import require_borg


def _parse(keys: dict):
    raw = raw_sections(BASE)
    raw["backup"].update(keys)
    try:
        return parse_stack_config(raw).backup
    except ConfigError:
        return None


def _accepted(options: list, keys) -> list:
    return [o for o in options if _parse(keys(o)) is not None]


RETENTIONS = _accepted(values.RETENTIONS, lambda r: {"retention": r})
FREQUENCIES = _accepted(values.FREQUENCIES, lambda f: {"checks": [{"name": "repository", "frequency": f}]})
CHECK_NAMES = _accepted(values.CHECK_NAMES, lambda n: {"checks": [{"name": n}]})
ARCHIVE_NAMES = _accepted(values.ARCHIVE_NAMES, lambda n: values.backup_keys({}, None, n))
COUNT = max(len(RETENTIONS), len(ARCHIVE_NAMES), (len(FREQUENCIES) + 1) // 2)


def _keys(i: int) -> dict:
    """Config ``i``: every accepted value is used by at least one config (two checks each)."""
    checks = [
        {"name": CHECK_NAMES[(2 * i + k) % len(CHECK_NAMES)], "frequency": FREQUENCIES[(2 * i + k) % len(FREQUENCIES)]}
        for k in (0, 1)
    ]
    return values.backup_keys(RETENTIONS[i % len(RETENTIONS)], checks, ARCHIVE_NAMES[i % len(ARCHIVE_NAMES)])


class Host:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.source = root / "source"
        (self.source / "notes").mkdir(parents=True)
        (self.source / "notes" / "index.md").write_text("# notes\n")
        self.env = {
            "HOME": str(self.home),
            "PATH": "/usr/bin:/bin",
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        }
        self.repos = [str(root / f"repo{i}") for i in range(COUNT)]
        for repo in self.repos:
            self.run([BORG, "init", "--encryption", "none", repo])

    def run(self, argv: list[str], ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=300)
        if ok:
            assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def borgmatic(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([BORGMATIC, *args], ok=ok)

    def archives(self, repo: str) -> list[str]:
        return self.run([BORG, "list", "--short", repo]).stdout.split()

    def config(self, name: str, doc: dict) -> Path:
        path = self.root / "configs" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    require_borg()
    host = Host(tmp_path_factory.mktemp("isolation"))
    # the other config: borgmatic's default names, the role's retention, every repository
    other = {
        "local_path": BORG,
        "source_directories": [str(host.source)],
        "repositories": [{"path": r, "label": f"r{i}"} for i, r in enumerate(host.repos)],
        "keep_daily": 1,
    }
    host.other = host.root / "other.yaml"
    host.other.write_text(yaml.safe_dump(other))
    for _ in range(2):
        host.borgmatic("-c", str(host.other), "create")
    return host


def _pg_dr_config(host: Host, i: int) -> dict:
    cfg = _parse(_keys(i))
    assert cfg is not None, _keys(i)
    doc = yaml.safe_load(plan.borgmatic_config(cfg))
    # the keys under test are retention, checks and names: the databases (and the roles hook that dumps their
    # servers' roles) are replaced by a small source directory; real dumps are the e2e tier's
    del doc["postgresql_databases"], doc["encryption_passcommand"]
    doc["commands"] = [hook for hook in doc.get("commands", []) if "pg_dumpall" not in " ".join(hook["run"])]
    doc |= {
        "local_path": BORG,
        "repositories": [{"path": host.repos[i], "label": f"pg-dr-{i}"}],
        "user_runtime_directory": str(host.root / "runtime"),
        "source_directories": [str(host.source)],
    }
    return doc


def test_every_accepted_value_runs_create_prune_and_check_and_the_other_config_s_archives_survive(host: Host) -> None:
    assert len(RETENTIONS) >= 6 and len(FREQUENCIES) >= 10 and len(ARCHIVE_NAMES) >= 5  # the generators' spread
    docs = [_pg_dr_config(host, i) for i in range(COUNT)]
    for i, doc in enumerate(docs):
        host.config(f"pg-dr-{i}.yaml", doc)
    configs = str(host.root / "configs")
    others = {repo: host.archives(repo) for repo in host.repos}
    assert all(len(names) == 2 for names in others.values())
    host.borgmatic("-c", configs, "config", "validate")
    # an earlier backup (the verification's), then a night's create, prune and check (compact is
    # repository-wide and names no archive), every config in one run
    host.borgmatic("-c", configs, "create")
    host.borgmatic("-c", configs, "--verbosity", "1", "create", "prune", "check")
    ours = {}
    for i, repo in enumerate(host.repos):
        names = host.archives(repo)
        assert [n for n in others[repo] if n not in names] == [], f"config {i} ({_keys(i)}) pruned another's"
        ours[repo] = [n for n in names if n not in others[repo]]
        assert len(ours[repo]) >= 1, f"config {i} kept no archive of its own"
        assert all(n.startswith("pg-dr-") for n in ours[repo])
    assert any(len(names) == 1 for names in ours.values())  # prune did prune pg-dr's own
    # and the other config's prune (keep_daily 1, its derived sh:{hostname}-*) keeps every pg-dr archive
    host.borgmatic("-c", str(host.other), "prune")
    for repo in host.repos:
        names = host.archives(repo)
        assert [n for n in names if n.startswith("pg-dr-")] == ours[repo]
        assert len([n for n in names if not n.startswith("pg-dr-")]) == 1


def test_the_refused_sh_match_all_pattern_would_prune_the_other_config_s_archives(host: Host) -> None:
    """Why ``sh:?*`` is refused at check (tests/unit/borgmatic/test_night_values.py): with it, borgmatic's
    prune selects the other config's archives too."""
    assert _parse({"matchArchives": "sh:?*"}) is None
    doc = _pg_dr_config(host, 0) | {"match_archives": "sh:?*", "keep_daily": 1}
    for key in ("keep_weekly", "keep_monthly", "keep_yearly"):
        doc.pop(key, None)
    path = host.config("../hostile.yaml", doc)
    proc = host.borgmatic("-c", str(path), "prune", "--dry-run", "--list", "--verbosity", "1")
    others = [n for n in host.archives(host.repos[0]) if not n.startswith("pg-dr-")]
    assert others
    pruned = [line for line in (proc.stdout + proc.stderr).splitlines() if "Would prune" in line]
    assert any(any(n in line for n in others) for line in pruned), proc.stdout + proc.stderr
    assert os.path.exists(path)
