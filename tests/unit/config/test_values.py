"""Value types of every section: strict as the CLI types them, no control characters, checked host keys."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.config.base import ConfigError
from components.config.stack import parse_stack_config
from components.secrets.resolver import ResolutionMode, SecretResolutionError, resolve_all
from offline import engine
from tests.support.render import render_config
from tests.support.stacks import BASE, HOST_KEY, raw_sections, stack


def _raw(mutate: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    raw = copy.deepcopy(raw_sections(BASE))
    mutate(raw)
    return raw


def _problems(mutate: Callable[[dict[str, Any]], object]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(_raw(mutate))
    return str(caught.value)


# ------------------------------------------------------------------------------------ strict types
STRICT = {
    "port true is not 1": (
        lambda r: r["backup"].update(port=True),
        "pg-dr:backup.port: must be an integer (not a boolean)",
    ),
    "port as a string": (
        lambda r: r["backup"].update(port="2222"),
        "pg-dr:backup.port: must be an integer (not a string: write it without quotes)",
    ),
    "port as a float": (lambda r: r["backup"].update(port=22.5), "pg-dr:backup.port: must be an integer"),
    "verify 0 is not false": (
        lambda r: r["backup"].update(verify=0),
        "pg-dr:backup.verify: must be true or false (not an integer)",
    ),
    "manage 'yes' is not true": (
        lambda r: r["tailnet"].update(manage="yes"),
        "pg-dr:tailnet.manage: must be true or false (not a string: YAML 1.2, as Pulumi reads it, has only true",
    ),
    "login 'true' string": (
        lambda r: r["cluster"]["roles"][0].update(login="true"),
        "pg-dr:cluster.roles[0].login: must be true or false",
    ),
    "hour true": (lambda r: r["backup"].update(schedule={"hour": True}), "pg-dr:backup.schedule.hour: must be an"),
    "a boolean is no string": (lambda r: r["backup"].update(user=True), "pg-dr:backup.user: must be a string"),
}


@pytest.mark.parametrize("case", STRICT, ids=list(STRICT))
def test_types_are_strict(case: str) -> None:
    mutate, expected = STRICT[case]
    assert expected in _problems(mutate)


def test_numbers_the_cli_writes_are_accepted_for_text_fields() -> None:
    """`pulumi config set --path pg-dr:drill.runId 2` stores the integer 2; the user meant "2"."""
    cfg = parse_stack_config(_raw(lambda r: (r.update(drill={"runId": 2}), r["backup"].update(user=501))))
    assert cfg.drill.run_id == "2"
    assert cfg.backup is not None and cfg.backup.user == "501"
    assert parse_stack_config(_raw(lambda r: r.update(drill={"runId": 1.5}))).drill.run_id == "1.5"
    labelled = parse_stack_config(_raw(lambda r: r["backup"]["repositories"][0].update(label=2026)))
    assert labelled.backup is not None and labelled.backup.repositories[0].label == "2026"


def test_a_cli_typed_run_id_renders() -> None:
    config = stack()
    config["pg-dr:drill"] = {"runId": 2}
    assert render_config(config).resources


# ------------------------------------------------------------------------------ control characters
def _set(section: str, key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda r: r[section].update({key: value})


CONTROL = {
    "cluster name with a final newline": (_set("cluster", "name", "blumeops-pg\n"), "pg-dr:cluster.name:"),
    "homeDir with NUL": (_set("backup", "homeDir", "/Users/erich\x00blume"), "pg-dr:backup.homeDir:"),
    "pgBinDir injecting a systemd directive": (
        _set("backup", "pgBinDir", "/usr/lib/postgresql/15/bin\nExecStartPre=/bin/touch /tmp/x"),
        "pg-dr:backup.pgBinDir:",
    ),
    "user with a newline": (_set("backup", "user", "erich\nblume"), "pg-dr:backup.user:"),
    "passcommand with CR": (_set("backup", "encryptionPasscommand", "cat x\rrm -rf ~"), "encryptionPasscommand:"),
    "repository path": (
        lambda r: r["backup"]["repositories"][0].update(path="/Volumes/b\n"),
        "pg-dr:backup.repositories[0].path:",
    ),
    "repository label": (
        lambda r: r["backup"]["repositories"][0].update(label="sifaka\n"),
        "pg-dr:backup.repositories[0].label:",
    ),
    "schedule label": (_set("backup", "schedule", {"label": "io.pg-dr\n"}), "pg-dr:backup.schedule.label:"),
    "database name": (lambda r: r["backup"]["databases"][0].update(name="miniflux\n"), "databases[0].name:"),
    "role comment with a tab": (lambda r: r["cluster"]["roles"][0].update(comment="a\tb"), "roles[0].comment:"),
    "policy file": (_set("tailnet", "policyFile", "policy/tailnet.hujson\n"), "pg-dr:tailnet.policyFile:"),
    "tag": (_set("tailnet", "backupSource", "tag:homelab\n"), "pg-dr:tailnet.backupSource:"),
    "run id": (lambda r: r.update(drill={"runId": "2\n"}), "pg-dr:drill.runId:"),
    "env reference": (
        lambda r: r["cluster"]["roles"][0].update(password="env:PW\n"),
        "pg-dr:cluster.roles[0].password:",
    ),
    "dump compression": (
        lambda r: r["backup"]["databases"][0].update(compression="zstd\n"),
        "pg-dr:backup.databases[0].compression:",
    ),
}


@pytest.mark.parametrize("case", CONTROL, ids=list(CONTROL))
def test_control_characters_are_refused(case: str) -> None:
    mutate, expected = CONTROL[case]
    assert expected in _problems(mutate)


def test_home_dir_with_nul_fails_before_any_resource_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    """It crashed in plistlib after 7 resources had registered."""
    monitors: list[Any] = []
    recording_monitor = engine._RecordingMonitor

    def monitor(mocks: Any) -> Any:
        monitors.append(recording_monitor(mocks))
        return monitors[-1]

    monkeypatch.setattr(engine, "_RecordingMonitor", monitor)
    config = stack()
    config["pg-dr:backup"]["homeDir"] = "/Users/erich\x00blume"
    with pytest.raises(ConfigError, match=r"pg-dr:backup\.homeDir: contains a control character \('\\x00'"):
        render_config(config)
    assert len(monitors) == 1 and monitors[0].recorded == []


# -------------------------------------------------------------------------------------------- hosts
@pytest.mark.parametrize("host", ["..", ".", "a..b", "-indri", "indri-", "indri.", "in_dri", "[::1]", "a" * 64])
def test_bad_host_names_are_refused(host: str) -> None:
    assert "pg-dr:backup.host: " in _problems(_set("backup", "host", host))


@pytest.mark.parametrize("host", ["indri", "indri.tail8d86e.ts.net", "127.0.0.1", "::1", "fd7a:115c:a1e0::1"])
def test_host_names_and_addresses_are_accepted(host: str) -> None:
    cfg = parse_stack_config(_raw(_set("backup", "host", host)))
    assert cfg.backup is not None and cfg.backup.host == host


# ----------------------------------------------------------------------------------------- host keys
def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _key(kind: str, *fields: bytes) -> str:
    return f"{kind} " + base64.b64encode(_ssh_string(kind.encode()) + b"".join(map(_ssh_string, fields))).decode()


def _rsa(bits: int) -> str:
    return _key("ssh-rsa", b"\x01\x00\x01", b"\x00" + (1 << (bits - 1) | 1).to_bytes(bits // 8, "big"))


GOOD_KEYS = {
    "ed25519": HOST_KEY,
    "ed25519 with a comment": HOST_KEY + " root@indri",
    "ecdsa p256": _key("ecdsa-sha2-nistp256", b"nistp256", b"\x04" + bytes(64)),
    "ecdsa p521": _key("ecdsa-sha2-nistp521", b"nistp521", b"\x04" + bytes(132)),
}


@pytest.mark.parametrize("case", GOOD_KEYS, ids=list(GOOD_KEYS))
def test_host_keys_of_every_kind_are_accepted(case: str) -> None:
    assert parse_stack_config(_raw(_set("backup", "hostKey", GOOD_KEYS[case]))).backup is not None


_ED25519_BLOB = HOST_KEY.split()[1]
BAD_KEYS = {
    "truncated when pasted": (f"ssh-ed25519 {_ED25519_BLOB[:-8]}", "not complete base64 of an SSH key"),
    "prefix says rsa": (f"ssh-rsa {_ED25519_BLOB}", "the key says 'ssh-rsa' but its data holds a 'ssh-ed25519' key"),
    "ed25519 of 31 bytes": (_key("ssh-ed25519", bytes(31)), "an Ed25519 key is 32 bytes, this one is 31"),
    "rsa 512": (_rsa(512), "a 512-bit modulus"),
    "ecdsa wrong curve": (_key("ecdsa-sha2-nistp256", b"nistp384", b"\x04" + bytes(64)), "the curve is not nistp256"),
    "ecdsa short point": (_key("ecdsa-sha2-nistp256", b"nistp256", b"\x04" + bytes(10)), "nistp256 public point"),
    "known_hosts line": (f"indri {HOST_KEY}", "drop the host name 'indri'"),
    "unknown type": (f"ssh-dss {_ED25519_BLOB}", "key type 'ssh-dss' is not one of"),
    "no blob": ("ssh-ed25519", "must be a public key line"),
}


@pytest.mark.parametrize("case", BAD_KEYS, ids=list(BAD_KEYS))
def test_bad_host_keys_say_what_is_wrong(case: str) -> None:
    key, expected = BAD_KEYS[case]
    problems = _problems(_set("backup", "hostKey", key))
    assert "pg-dr:backup.hostKey: " in problems and expected in problems


def test_a_well_formed_rsa_pin_is_refused_with_the_command_that_prints_an_ed25519_key() -> None:
    problems = _problems(_set("backup", "hostKey", _rsa(3072)))
    assert "pg-dr:backup.hostKey: an ssh-rsa pin makes pulumi-command offer only the SHA-1 ssh-rsa" in problems
    host = raw_sections(BASE)["backup"]["host"]
    assert f"`ssh-keyscan -t ed25519 {host}` prints it" in problems


# ------------------------------------------------------------------------------------ secret values
def _env_cfg():
    raw = raw_sections(BASE)
    raw["secrets"] = {"provider": "env"}
    raw["cluster"]["roles"][0]["password"] = "env:PG_PW"
    for db in raw["backup"]["databases"]:
        db["password"] = "env:PG_PW"
    raw["backup"]["privateKey"] = "env:SSH_KEY"
    return parse_stack_config(raw)


KEY_PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def test_an_env_password_ending_in_a_newline_is_refused_by_name() -> None:
    with pytest.raises(SecretResolutionError) as caught:
        resolve_all(_env_cfg(), ResolutionMode(environ={"PG_PW": "hunter2\n", "SSH_KEY": KEY_PEM}))
    message = str(caught.value)
    assert "env:PG_PW: environment variable PG_PW ends in a newline" in message
    assert "hunter2" not in message and "SSH_KEY" not in message


def test_a_password_with_an_inner_line_break_is_refused_and_a_private_key_may_span_lines() -> None:
    with pytest.raises(SecretResolutionError, match="PG_PW holds a line break or NUL byte"):
        resolve_all(_env_cfg(), ResolutionMode(environ={"PG_PW": "a\nb", "SSH_KEY": KEY_PEM}))
    resolved = resolve_all(_env_cfg(), ResolutionMode(environ={"PG_PW": "hunter2", "SSH_KEY": KEY_PEM}))
    assert "hunter2" not in repr(resolved)


# --------------------------------------------------------------------------------- date-time fields
def _valid_until(value: Any) -> Callable[[dict[str, Any]], object]:
    return lambda raw: raw["cluster"]["roles"][0].__setitem__("validUntil", value)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2027-01-31T00:00:00Z", "2027-01-31T00:00:00Z"),
        ("2027-01-31T10:30:00.25+02:00", "2027-01-31T10:30:00.25+02:00"),
        # what the CLI hands the program for an unquoted `validUntil: 2027-01-31` (or a timestamp)
        ("2027-01-31 00:00:00 +0000 UTC", "2027-01-31T00:00:00Z"),
        ("2027-01-31 10:00:00.5 +0200 +0200", "2027-01-31T10:00:00.5+02:00"),
    ],
)
def test_valid_until_takes_rfc3339_and_the_clis_unquoted_date(given: str, sent: str) -> None:
    cfg = parse_stack_config(_raw(_valid_until(given)))
    assert cfg.cluster.roles[0].valid_until == sent


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("tomorrow", "'tomorrow' is not an RFC 3339 date-time, which CNPG requires (write e.g. 2027-01-31T00:00:00Z)"),
        ("2027-01-31", "write e.g. 2027-01-31T00:00:00Z"),
        ("2027-02-30T00:00:00Z", "is not a valid date-time (day is out of range for month)"),
        ("2027-01-31T24:00:00Z", "is not a valid date-time"),
        ("2027-01-31t00:00:00z", "is not an RFC 3339 date-time"),
        ("2027-01-31T00:00:00+25:00", "impossible time zone offset"),
        ("infinity", "is not an RFC 3339 date-time"),
    ],
)
def test_valid_until_refuses_what_cnpg_refuses(given: str, message: str) -> None:
    problems = _problems(_valid_until(given))
    assert "pg-dr:cluster.roles[0].validUntil: " in problems and message in problems


def test_an_unquoted_date_in_a_stack_file_renders_as_rfc3339(tmp_path: Any) -> None:
    from offline.stackfile import load_stack_config_file

    path = tmp_path / "Pulumi.t.yaml"
    path.write_text("config:\n  pg-dr:cluster:\n    roles:\n      - validUntil: 2027-01-31\n")
    loaded = load_stack_config_file(path)["pg-dr:cluster"]["roles"][0]["validUntil"]
    assert loaded == "2027-01-31 00:00:00 +0000 UTC"
    config = stack()
    config["pg-dr:cluster"]["roles"][0]["validUntil"] = loaded
    cluster = render_config(config).one("kubernetes:postgresql.cnpg.io/v1:Cluster")
    assert cluster.inputs["spec"]["managed"]["roles"][0]["validUntil"] == "2027-01-31T00:00:00Z"
