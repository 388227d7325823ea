"""What ``check`` accepts must make a night that succeeds (issue 16): archive isolation proved, not deny-listed;
retention, check frequencies, repository paths and bounds that borgmatic and borg run every night.

Names are checked against Borg's own shell-pattern translation (``/usr/lib/python3/dist-packages/borg``,
Debian's borgbackup) and frequencies against borgmatic 2.1.10's ``parse_frequency``.
"""

from __future__ import annotations

import datetime
import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from borgmatic.actions.check import parse_frequency
from borgmatic.borg.flags import make_match_archives_flags
from hypothesis import event, given, settings
from hypothesis import strategies as st

from components.borgmatic import archives
from components.borgmatic import plan as files
from components.borgmatic.config import MAX_CHECK_FREQUENCY_SECONDS
from components.config.base import ConfigError, control_character_problem
from components.config.stack import parse_stack_config
from tests.support import borgmatic_values as values
from tests.support.stacks import BASE, raw_sections
from tests.support.tools import require_borg

_SHELLPATTERN = Path("/usr/lib/python3/dist-packages/borg/shellpattern.py")


def _borg_glob():
    """Borg 1.x's own ``--glob-archives`` translation (its manifest matches archive names with it)."""
    require_borg()  # Debian's borgbackup ships the module with the binary
    spec = importlib.util.spec_from_file_location("borg_shellpattern", _SHELLPATTERN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda glob, name: re.match(module.translate(glob), name) is not None


def _backup(**changes):
    raw = raw_sections(BASE)
    raw["backup"].update(changes)
    return parse_stack_config(raw).backup


def _problems(**changes) -> list[tuple[str, str]]:
    try:
        _backup(**changes)
    except ConfigError as e:
        return e.problems
    return []


def _names(fmt: str, host: str) -> list[str]:
    """Names the format produces on ``host`` (Borg 1.x's placeholder values, a few times and users)."""
    out = []
    for when in (datetime.datetime(2026, 1, 2, 3, 4, 5, 6), datetime.datetime(1999, 12, 31, 23, 59, 59, 999999)):
        for user, pid in (("erichblume", 1), ("a.b-c_d", 99999)):
            data = {
                "pid": pid,
                "fqdn": f"{host}.tail8d86e.ts.net",
                "reverse-fqdn": f"net.ts.tail8d86e.{host}",
                "hostname": host,
                "now": _Time(when.astimezone()),
                "utcnow": _Time(when.replace(tzinfo=datetime.UTC)),
                "user": user,
                "uuid4": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                "borgversion": "1.4.1",
                "borgmajor": "1",
                "borgminor": "1.4",
                "borgpatch": "1.4.1",
            }
            out.append(fmt.format_map(data))
    return out


class _Time:
    """Borg's DatetimeWrapper: ``{now}`` is ISO to the second, ``{now:spec}`` strftime."""

    def __init__(self, dt: datetime.datetime) -> None:
        self.dt = dt

    def __format__(self, spec: str) -> str:
        return self.dt.strftime(spec or "%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------------------------------------ archive isolation
@pytest.mark.parametrize(
    "match", ["sh:?*", "sh:*?", "re:.+", "re:.", "re:^", "?*", "SH:*", "sh:*-*", "*", "sh:*", "re:.*", "sh:**"]
)
def test_the_issue_s_data_loss_patterns_are_refused(match: str) -> None:
    """``sh:?*`` with prod's retention pruned 9 of the other config's 10 archives (issue 16): refused at check."""
    problems = _problems(matchArchives=match)
    assert [p for p, _ in problems] == ["pg-dr:backup.matchArchives"], problems
    assert "not a pattern pg-dr can prove" in problems[0][1]


def test_borgmatic_s_default_format_with_its_derived_match_is_refused() -> None:
    problems = _problems(archiveNameFormat="{hostname}-{now}", matchArchives="sh:{hostname}-*")
    assert problems == [
        (
            "pg-dr:backup.archiveNameFormat",
            "must start with the literal 'pg-dr-' (pg-dr's archives carry a prefix no other writer uses)",
        )
    ]


def test_match_archives_is_derived_from_the_format_by_default() -> None:
    assert _backup().match_archives == "sh:pg-dr-*"
    assert _backup(archiveNameFormat="pg-dr-db-{fqdn}-{now}").match_archives == "sh:pg-dr-db-*"
    doc = yaml.safe_load(files.borgmatic_config(_backup(archiveNameFormat="pg-dr-x_{now}")))
    assert (doc["archive_name_format"], doc["match_archives"]) == ("pg-dr-x_{now}", "sh:pg-dr-x_*")


def test_a_match_that_misses_pg_dr_s_own_archives_is_refused() -> None:
    problems = _problems(archiveNameFormat="pg-dr-db-{now}", matchArchives="sh:pg-dr-dbx*")
    assert [p for p, _ in problems] == ["pg-dr:backup.matchArchives"]
    assert "does not match every name archiveNameFormat" in problems[0][1]


@settings(max_examples=300, deadline=None)
@given(values.archive_names(), st.sampled_from(["indri", "pg", "pg-dr", "pg-dr-x", "nas", "a"]))
def test_an_accepted_pair_matches_all_of_its_names_and_none_of_the_default_format_s(
    names: tuple[str, str | None], host: str
) -> None:
    """The proof, checked with Borg's own glob and borgmatic's own flags: every name the format produces is
    matched; a name borgmatic's default format ``{hostname}-{now}`` produces is not, unless the host check
    refuses the host (its ``<host>-`` overlaps pg-dr's prefix)."""
    glob = _borg_glob()
    fmt = names[0]
    problems = _problems(**values.backup_keys({}, None, names))
    if problems:
        assert {p for p, _ in problems} <= {"pg-dr:backup.archiveNameFormat", "pg-dr:backup.matchArchives"}
        return
    cfg = _backup(**values.backup_keys({}, None, names))
    (flag, borg_glob) = make_match_archives_flags(cfg.match_archives, cfg.archive_name_format, "1.2.4")
    assert flag == "--glob-archives"
    for name in _names(fmt, host):
        assert "/" not in name and "::" not in name and " " not in name
        assert glob(borg_glob, name), (name, borg_glob)
    prefix = archives.match_prefix(cfg.match_archives)
    assert prefix is not None and prefix.startswith("pg-dr-")
    refused_by_host_check = f"{host}-".startswith(prefix) or archives.literal_head(fmt).startswith(f"{host}-")
    other = _names("{hostname}-{now}", host)
    if not refused_by_host_check:
        assert not any(glob(borg_glob, name) for name in other)
        # and the other config's derived match (sh:{hostname}-*) misses every pg-dr name
        (_, other_glob) = make_match_archives_flags(None, None, "1.2.4")
        other_glob = other_glob.replace("{hostname}", host)
        assert not any(glob(other_glob, name) for name in _names(fmt, host))


_PIECES = ["pg-dr-", "pg-", "dr", "-", "_", ".", ":", "::", "/", " ", "*", "?", "[a]", "{", "}", "%", "x", "{{",
           "{hostname}", "{fqdn}", "{reverse-fqdn}", "{user}", "{pid}", "{uuid4}", "{borgversion}", "{now}",
           "{utcnow}", "{now:%Y-%m-%dT%H:%M:%S}", "{now:%Y%m%d}", "{now:%D}", "{utcnow:%H%M%S%f}", "{now:%c}",
           "{now:}", "{bad}", "{hostname:x}", "{now:%Y/%m}", "\u202e"]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    st.builds(
        lambda head, a, unique, b: head + a + unique + b,
        st.sampled_from(["pg-dr-", "pg-dr-", "pg-dr-", "pg-dr", "pg-", ""]),
        _pieces := st.lists(st.sampled_from(_PIECES), max_size=2).map("".join),
        st.sampled_from(["{now}", "{uuid4}", "{utcnow:%H%M%S%f}", "{now:%Y-%m-%dT%H:%M:%S}", "{now:%Y%m%d}"]),
        _pieces,
    ),
    st.one_of(st.none(), st.builds(lambda p: f"sh:pg-dr-{p}*", _pieces), st.builds(lambda p: f"sh:{p}*", _pieces)),
)
def test_any_format_and_match_accepted_is_proved_by_borg_s_own_glob(fmt: str, match: str | None) -> None:
    """Beyond the listed values: any format and match built from placeholders, globs and separators that
    ``check`` accepts matches every name it produces (Borg's glob; the host check's ERE), and no name holds
    '/' or '::'."""
    glob = _borg_glob()
    names = (fmt, match)
    if _problems(**values.backup_keys({}, None, names)):
        event("refused")
        return
    event("accepted")
    cfg = _backup(**values.backup_keys({}, None, names))
    assert cfg.archive_name_format.startswith("pg-dr-")
    (_, borg_glob) = make_match_archives_flags(cfg.match_archives, cfg.archive_name_format, "1.2.4")
    ere = re.compile(archives.name_ere(fmt))
    for name in _names(fmt, "indri"):
        assert "/" not in name and "::" not in name, name
        assert glob(borg_glob, name) and ere.match(name), (name, borg_glob)


def test_the_name_ere_matches_what_the_format_produces_and_not_the_default_format() -> None:
    for fmt, _ in values.ARCHIVE_NAMES:
        if archives.format_problem(fmt) is None:
            ere = re.compile(archives.name_ere(fmt))
            assert all(ere.match(n) for n in _names(fmt, "indri")), fmt
            # (a host named pg-dr-...: its default names are pg-dr's shape; the host check refuses the host name)
            assert not any(ere.match(n) for n in _names("{hostname}-{now}", "indri")), fmt


@pytest.mark.parametrize(
    ("fmt", "why"),
    [
        ("pg-dr-{hostname}-{now:%Y-%m-%d}", "names no second"),
        ("pg-dr-{hostname}-{now:%D}", "%D may produce '/'"),
        ("pg-dr-{hostname}/{now}", "holds '/'"),
        ("pg-dr-{hostname}::{now}", "holds '::'"),
        ("pg-dr-{unknown}-{now}", "placeholder {unknown}"),
        ("pg-dr-{{hostname}}-{now}", "unmatched '{'"),
        ("pg-dr-\u202e{now}", "control character"),
    ],
)
def test_a_format_pg_dr_cannot_prove_is_refused(fmt: str, why: str) -> None:
    problems = _problems(archiveNameFormat=fmt)
    assert [p for p, _ in problems] == ["pg-dr:backup.archiveNameFormat"], problems
    assert why in problems[0][1]


# ------------------------------------------------------------------------------------------ nights that fail
@pytest.mark.parametrize("retention", [r for r in values.RETENTIONS if r.get("keepDaily") != -1])
def test_a_retention_that_keeps_no_archive_is_refused(retention: dict) -> None:
    keeps = {k: retention.get(k, d) for k, d in (("keepDaily", 7), ("keepWeekly", None), ("keepMonthly", 12),
                                                  ("keepYearly", 1000))}  # fmt: skip
    problems = _problems(retention=retention)
    if any(keeps.values()):
        assert problems == []
    else:
        assert [p for p, _ in problems] == ["pg-dr:backup.retention"]
        assert "borg prune refuses to run" in problems[0][1]


UNITS = ["day", "days", "week", "month", "months", "year", "years", "hour", "minute", "second", "fortnight"]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.sampled_from(values.FREQUENCIES),
        st.text(alphabet=st.sampled_from("0123456789 -+_aeklmnoqrsuwyAWDHY\u00a0\u200b\u0663"), max_size=14),
        st.builds(lambda n, u: f"{n} {u}", st.integers(-(10**12), 10**12), st.sampled_from(UNITS)),
    )
)
def test_a_check_frequency_is_accepted_exactly_when_borgmatic_parses_it(frequency: str) -> None:
    problems = _problems(checks=[{"name": "repository", "frequency": frequency}])
    try:
        delta = parse_frequency(frequency)
        borgmatic_reads = delta is None or abs(delta.total_seconds()) <= MAX_CHECK_FREQUENCY_SECONDS
    except (ValueError, OverflowError):
        borgmatic_reads = False
    if control_character_problem(frequency):  # refused as a control or invisible character first
        assert problems and problems[0][0] == "pg-dr:backup.checks[0].frequency"
        return
    assert (problems == []) == borgmatic_reads, (frequency, problems)
    if problems:
        assert [p for p, _ in problems] == ["pg-dr:backup.checks[0].frequency"]


def test_the_issue_s_frequencies_are_refused() -> None:
    for frequency in ("fortnightly", "2 weeks\u200b", "2  weeks"):
        problems = _problems(checks=[{"name": "archives", "frequency": frequency}])
        assert [p for p, _ in problems] == ["pg-dr:backup.checks[0].frequency"], frequency


def test_a_spot_check_is_refused() -> None:
    problems = _problems(checks=[{"name": "spot"}])
    assert [p for p, _ in problems] == ["pg-dr:backup.checks[0].name"]


def test_a_repository_path_with_an_archive_separator_is_refused() -> None:
    problems = _problems(repositories=[{"path": "/Volumes/backups/borg::pg-dr-x", "label": "sifaka"}])
    assert [p for p, _ in problems] == ["pg-dr:backup.repositories[0].path"]
    assert _problems(repositories=[{"path": "ssh://u@nas:22/./borg", "label": "nas"}]) == []


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("loginWaitSeconds", 10**30, False),
        ("loginWaitSeconds", 3601, False),
        ("loginWaitSeconds", 3600, True),
        ("lockWait", 10**30, False),
        ("lockWait", 86401, False),
        ("lockWait", 86400, True),
    ],
)
def test_waits_are_bounded(key: str, value: int, ok: bool) -> None:
    assert (_problems(**{key: value}) == []) == ok
    if not ok:
        assert [p for p, _ in _problems(**{key: value})] == [f"pg-dr:backup.{key}"]


def test_restore_jobs_are_bounded_by_pg_restore_s_range() -> None:
    db = dict(raw_sections(BASE)["backup"]["databases"][0], format="directory", label="brew")
    assert _problems(databases=[dict(db, restoreJobs=2147483647)]) == []
    for bad in (10**12, 2147483648, 0):
        problems = _problems(databases=[dict(db, restoreJobs=bad)])
        assert [p for p, _ in problems] == ["pg-dr:backup.databases[0].restoreJobs"], bad


@pytest.mark.parametrize("name", ["public", "none", "PUBLIC", "current_user", "session_user", "current_role"])
def test_a_reserved_role_name_is_refused_as_the_backup_s_user(name: str) -> None:
    db = dict(raw_sections(BASE)["backup"]["databases"][0], username=name)
    problems = _problems(databases=[db])
    assert [p for p, _ in problems] == ["pg-dr:backup.databases[0].username"]
    assert "reserved by PostgreSQL" in problems[0][1]


# ------------------------------------------------------------------------------------------ login files
@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("configPath", "/Users/erichblume/.ssh/authorized_keys"),
        ("configPath", "/Users/erichblume/.SSH/authorized_keys"),  # macOS: case-insensitive
        ("configPath", "/Users/erichblume/.zshrc"),
        ("configPath", "/etc/ssh/sshd_config"),
        ("configPath", "/etc/sudoers"),
        ("pgpassPath", "/Users/erichblume/.ssh/config"),
        ("pgpassPath", "/Users/erichblume/.bash_profile"),
        ("runtimeDirectory", "/Users/erichblume/.gnupg/pg-dr"),
    ],
)
def test_a_path_a_login_depends_on_is_refused(key: str, path: str) -> None:
    problems = _problems(**{key: path}, adoptExisting=True)
    assert [p for p, _ in problems] == [f"pg-dr:backup.{key}"], problems
    assert "pg-dr never writes there" in problems[0][1]


def test_a_home_dir_under_ssh_is_refused_for_every_file_pg_dr_writes() -> None:
    problems = _problems(homeDir="/Users/erichblume/.ssh")
    assert {p for p, _ in problems} >= {"pg-dr:backup.configPath", "pg-dr:backup.pgpassPath"}


def test_borgmatic_s_system_directories_stay_allowed() -> None:
    assert _problems(configPath="/etc/borgmatic.d/pg-dr.yaml", schedule={"kind": "none"}) == []
