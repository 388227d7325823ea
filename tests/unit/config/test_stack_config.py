"""The typed stack config: good configs parse; every malformed one names the bad key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from components.config.base import SECTIONS, ConfigError
from components.config.stack import parse_stack_config
from components.project import PROJECT_DIR
from tests.support.stacks import BASE, raw_sections


def _broken(mutate) -> dict:
    raw = copy.deepcopy(raw_sections(BASE))
    mutate(raw)
    return raw


def _role(raw: dict, i: int = 0) -> dict:
    return raw["cluster"]["roles"][i]


def _add_role(raw: dict, **role) -> None:
    raw["cluster"]["roles"].append(role)


MALFORMED = {
    "connection limit below -1": (
        lambda r: _add_role(r, name="app", connectionLimit=-2),
        "pg-dr:cluster.roles[1].connectionLimit: must be >= -1",
    ),
    "duplicate role": (lambda r: _add_role(r, name="borgmatic"), "pg-dr:cluster.roles[1].name: duplicate role"),
    "reserved postgres": (
        lambda r: _add_role(r, name="postgres"),
        "pg-dr:cluster.roles[1].name: 'postgres' is reserved",
    ),
    "reserved streaming_replica": (
        lambda r: _add_role(r, name="streaming_replica"),
        "pg-dr:cluster.roles[1].name: 'streaming_replica' is reserved",
    ),
    "reserved cnpg_ prefix": (lambda r: _add_role(r, name="cnpg_pooler"), "pg-dr:cluster.roles[1].name: 'cnpg_pooler'"),
    "disablePassword with password": (
        lambda r: _role(r).update(disablePassword=True),
        "pg-dr:cluster.roles[0]: disablePassword and password are mutually exclusive",
    ),
    "plaintext password": (
        lambda r: _role(r).update(password="hunter2"),
        "pg-dr:cluster.roles[0].password: is not a secret reference",
    ),
    "malformed op reference": (
        lambda r: _role(r).update(password="op://blumeops/borgmatic"),
        "pg-dr:cluster.roles[0].password: the secret reference could not be parsed",
    ),
    "unknown role key (typo)": (
        lambda r: _role(r).update(inroles=["pg_read_all_data"]),
        "pg-dr:cluster.roles[0].inroles: unknown key",
    ),
    "bad ensure": (lambda r: _role(r).update(ensure="gone"), "pg-dr:cluster.roles[0].ensure: must be one of"),
    "cluster name not DNS-1123": (lambda r: r["cluster"].update(name="Blumeops_PG"), "pg-dr:cluster.name:"),
    "zero instances": (lambda r: r["cluster"].update(instances=0), "pg-dr:cluster.instances: must be >= 1"),
    "bad mode": (lambda r: r["cluster"].update(mode="operator"), "pg-dr:cluster.mode: must be one of"),
    "unknown section": (lambda r: r.update(clustr={}), "pg-dr:clustr: unknown key"),
    "bad storage size": (lambda r: r["cluster"]["storage"].update(size="ten gigs"), "pg-dr:cluster.storage.size:"),
    "absent role in databaseRole mode": (
        lambda r: (r["cluster"].update(mode="databaseRole"), _role(r).update(ensure="absent")),
        "pg-dr:cluster.roles[0].ensure: absent is not supported in databaseRole mode",
    ),
    "unknown secrets provider": (
        lambda r: r["secrets"].update(provider="vault"),
        "pg-dr:secrets.provider: must be one of",
    ),
    "op reference with env provider": (
        lambda r: r["secrets"].update(provider="env"),
        "pg-dr:cluster.roles[0].password: op://blumeops/borgmatic/db-password needs 1Password",
    ),
    "cluster database user not a managed role": (
        lambda r: r["backup"]["databases"][1].update(username="reader"),
        "pg-dr:backup.databases[1].username: 'reader' is not a managed role",
    ),
    "cluster database password differs from role": (
        lambda r: r["backup"]["databases"][1].update(password="op://blumeops/other/db-password"),
        "pg-dr:backup.databases[1].password: must equal the password reference of role 'borgmatic'",
    ),
    "cluster role without login": (
        lambda r: _role(r).update(login=False),
        "pg-dr:backup.databases[1].username: role 'borgmatic' must have login: true",
    ),
    "env reference without a name": (
        lambda r: _role(r).update(password="env:"),
        "pg-dr:cluster.roles[0].password: 'env:': env: needs an environment variable name",
    ),
    "section is not a mapping": (lambda r: r.update(cluster=["blumeops-pg"]), "pg-dr:cluster: must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_config_names_the_key(case: str) -> None:
    mutate, expected = MALFORMED[case]
    with pytest.raises(ConfigError) as err:
        parse_stack_config(_broken(mutate))
    assert expected in str(err.value), str(err.value)


def test_every_problem_is_listed_in_one_error() -> None:
    def mutate(r: dict) -> None:
        _add_role(r, name="borgmatic", connectionLimit=-7)
        _add_role(r, name="cnpg_x", password="plaintext")

    with pytest.raises(ConfigError) as err:
        parse_stack_config(_broken(mutate))
    paths = [path for path, _ in err.value.problems]
    assert paths == [
        "pg-dr:cluster.roles[1].name",
        "pg-dr:cluster.roles[2].name",
        "pg-dr:cluster.roles[1].connectionLimit",
        "pg-dr:cluster.roles[2].password",
    ]
    assert "4 problems" in str(err.value)


def test_defaults_are_cnpg_defaults() -> None:
    cfg = parse_stack_config(raw_sections(BASE))
    role = cfg.cluster.roles[0]
    assert (role.connection_limit, role.ensure, role.inherit) == (-1, "present", True)
    assert cfg.cluster.protect is True
    assert role.read_only


@pytest.mark.parametrize("path", sorted(PROJECT_DIR.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_repository_stack_files_parse(path: Path) -> None:
    """Read as the CLI reads it (unquoted dates, secure values in a section), whatever stack a user adds."""
    from offline.engine import load_stack_file, project_config, qualify_config

    stack_name = path.name.split(".")[1]
    project, merged = project_config(PROJECT_DIR, load_stack_file(PROJECT_DIR, stack_name), stack_name)
    full, secret_keys = qualify_config(project, merged)
    prefix = f"{project}:"
    sections = {k[len(prefix) :]: json.loads(v) for k, v in full.items() if k[len(prefix) :] in SECTIONS}
    parse_stack_config(sections, [k[len(prefix) :] for k in secret_keys if k.startswith(prefix)])


@pytest.mark.parametrize(
    ("section", "path", "typo", "expected"),
    [
        ("backup", [], "hots", "pg-dr:backup.hots: unknown key (did you mean 'host'?)"),
        (
            "backup",
            ["databases", 0],
            "usernme",
            "pg-dr:backup.databases[0].usernme: unknown key (did you mean 'username'?)",
        ),
        ("backup", ["schedule"], "kindd", "pg-dr:backup.schedule.kindd: unknown key (did you mean 'kind'?)"),
        ("cluster", ["roles", 0], "loginn", "pg-dr:cluster.roles[0].loginn: unknown key (did you mean 'login'?)"),
        (
            "tailnet",
            [],
            "zzzz",
            "pg-dr:tailnet.zzzz: unknown key (known: manage, policyFile, backupSource, overwriteExisting, adopt)",
        ),
    ],
)
def test_a_typo_inside_a_section_gets_a_did_you_mean(section: str, path: list, typo: str, expected: str) -> None:
    raw = raw_sections(BASE)
    raw["backup"]["schedule"] = {"kind": "launchd"}
    target = raw[section]
    for part in path:
        target = target[part]
    target[typo] = True
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw)
    assert f"  {expected}" in str(err.value).splitlines()


def test_an_unknown_drill_database_lists_the_configured_ones() -> None:
    raw = raw_sections(BASE)
    raw["drill"] = {"enabled": True, "database": "minflux", "target": {"username": "d"}}
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw)
    assert (
        "pg-dr:drill.database: no pg-dr:backup.databases entry matches *:*/minflux (configured: "
        "localhost:5432/miniflux, k8s-pg.tail8d86e.ts.net:5432/miniflux) (did you mean 'miniflux'?)"
    ) in str(err.value)
