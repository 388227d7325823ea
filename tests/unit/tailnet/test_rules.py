"""Offline validation of a tailnet policy: the ``ip`` syntax, test destinations, and malformed policies."""

from __future__ import annotations

import pytest

from components.borgmatic.config import DatabaseConfig
from components.tailnet.plan import TailnetPolicyError, merge_policy
from components.tailnet.rules import ALL_PORTS, IpSpec, RuleError, parse_ip, parse_test_destination

TCP, UDP, ICMP = 6, 17, 1


@pytest.mark.parametrize(
    ("entry", "spec"),
    [
        ("*", IpSpec(None, ALL_PORTS)),
        ("22", IpSpec(None, ((22, 22),))),
        ("80,443", IpSpec(None, ((80, 80), (443, 443)))),
        ("8000-8100", IpSpec(None, ((8000, 8100),))),
        ("tcp:5432", IpSpec(frozenset({TCP}), ((5432, 5432),))),
        ("TCP:5432", IpSpec(frozenset({TCP}), ((5432, 5432),))),
        ("udp:53,5353", IpSpec(frozenset({UDP}), ((53, 53), (5353, 5353)))),
        ("tcp:*", IpSpec(frozenset({TCP}), ALL_PORTS)),
        ("tcp:80,8000-8100", IpSpec(frozenset({TCP}), ((80, 80), (8000, 8100)))),
        ("icmp:*", IpSpec(frozenset({ICMP}), ALL_PORTS)),
        ("6:22", IpSpec(frozenset({TCP}), ((22, 22),))),
        ("47:*", IpSpec(frozenset({47}), ALL_PORTS)),
    ],
)
def test_ip_forms(entry: str, spec: IpSpec) -> None:
    assert parse_ip(entry) == spec


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("tcp:99999", "port 99999 is out of range 1-65535"),
        ("tcp:0", "port 0 is out of range 1-65535"),
        ("tcp:90-80", "port range '90-80' is inverted (first port greater than last)"),
        ("tcp:22,", "empty port (stray comma or dash?)"),
        ("tcp:", "empty port (stray comma or dash?)"),
        ("tcp:ssh", "'ssh' is not a port number"),
        ("foo:22", "unknown protocol 'foo' (use a name like tcp, udp, icmp, sctp or a number 1-255)"),
        ("06:22", "protocol number '06' must be 1-255 without leading zeros"),
        ("256:22", "protocol number 256 is out of range 1-255"),
        ("icmp:8", 'protocol icmp has no ports: write "icmp:*"'),
        ("tcp:22:33", "expected <protocol>:<ports>, found more than one ':'"),
        (5432, '5432 must be a string like "tcp:5432"'),
    ],
)
def test_malformed_ip_entries(entry: object, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_ip(entry)
    assert str(info.value) == message


def test_ip_spec_allows_protocol_and_port() -> None:
    assert parse_ip("tcp:5000-6000").allows(TCP, 5432)
    assert not parse_ip("tcp:5000-6000").allows(TCP, 6001)
    assert not parse_ip("udp:5432").allows(TCP, 5432)
    assert parse_ip("5432").allows(UDP, 5432) and parse_ip("*").allows(ICMP, 0)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("tag:k8s:5432", ("tag:k8s", 5432)),
        ("[fd7a:115c:a1e0::1]:22", ("fd7a:115c:a1e0::1", 22)),
        ("nas:22", ("nas", 22)),
    ],
)
def test_test_destinations(text: str, parsed: tuple[str, int]) -> None:
    assert parse_test_destination(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tag:k8s", "'tag:k8s' has no port: a test destination is host:port, like \"tag:k8s:5432\""),
        ("nas", "'nas' has no port: write host:port, like \"tag:k8s:5432\""),
        ("tag:k8s:*", "'tag:k8s:*': a test destination takes exactly one port, not '*'"),
        ("tag:k8s:80,443", "'tag:k8s:80,443': a test destination takes exactly one port, not '80,443'"),
        ("tag:k8s:5432-5433", "'tag:k8s:5432-5433': a test destination takes exactly one port, not '5432-5433'"),
    ],
)
def test_test_destinations_take_exactly_one_port(text: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_test_destination(text)
    assert str(info.value) == message


# --------------------------------------------------------------------------------- malformed policies
BASE = """{
	"groups": {
		"group:admins": ["erich@example.com"],
	},
	"tagOwners": {
		"tag:homelab": ["group:admins"],
		"tag:k8s":     ["group:admins"],
	},
	"grants": [
		{
			"src": ["group:admins"],
			"dst": ["tag:k8s"],
			"ip":  ["tcp:443"],
		},
	],
	"tests": [
		{
			"src":    "erich@example.com",
			"accept": ["tag:k8s:443"],
			"deny":   ["tag:homelab:22"],
		},
	],
}
"""
K8S_DB = DatabaseConfig(name="miniflux", hostname="k8s-pg", username="borgmatic", tailnet_tag="tag:k8s")


def merge(text: str, databases: list[DatabaseConfig] | None = None, source: str = "tag:homelab") -> object:
    return merge_policy(text, "policy/tailnet.hujson", source, [K8S_DB] if databases is None else databases)


def test_the_base_of_these_cases_is_valid() -> None:
    assert merge(BASE).added_grants == [{"src": ["tag:homelab"], "dst": ["tag:k8s"], "ip": ["tcp:5432"]}]


F = "policy/tailnet.hujson"
MALFORMED = {
    "missing comma": (
        ('\t\t"tag:homelab": ["group:admins"],', '\t\t"tag:homelab": ["group:admins"]'),
        f"{F}:7:3: expected ',' or '}}' after member (the file named by pg-dr:tailnet.policyFile)",
    ),
    "unterminated string": (
        ('"tcp:443"]', '"tcp:443]'),
        f"{F}:13:22: unterminated string (a string cannot span lines) (the file named by pg-dr:tailnet.policyFile)",
    ),
    "duplicate member": (
        ('\t"tests": [', '\t"grants": [],\n\t"tests": ['),
        f"{F}:16:2: duplicate member name (first at {F}:9:2) (the file named by pg-dr:tailnet.policyFile)",
    ),
    "undeclared tag in a grant": (
        ('"dst": ["tag:k8s"]', '"dst": ["tag:k8z"]'),
        f"{F}:12:12: grants[0].dst[0]: tag:k8z is not declared in tagOwners (Tailscale rejects undeclared tags)",
    ),
    "undeclared tag in a test": (
        ('"deny":   ["tag:homelab:22"]', '"deny":   ["tag:nas:22"]'),
        f"{F}:20:15: tests[0].deny[0]: tag:nas is not declared in tagOwners (Tailscale rejects undeclared tags)",
    ),
    "undefined group": (
        ('"src": ["group:admins"]', '"src": ["group:admin"]'),
        f"{F}:11:12: grants[0].src[0]: group:admin is not defined in groups",
    ),
    "port out of range": (
        ('"tcp:443"', '"tcp:70000"'),
        f'{F}:13:12: grants[0].ip[0]: "tcp:70000": port 70000 is out of range 1-65535',
    ),
    "inverted range": (
        ('"tcp:443"', '"tcp:443-80"'),
        f"{F}:13:12: grants[0].ip[0]: \"tcp:443-80\": port range '443-80' is inverted (first port greater than last)",
    ),
    "unknown protocol": (
        ('"tcp:443"', '"https:443"'),
        f"{F}:13:12: grants[0].ip[0]: \"https:443\": unknown protocol 'https' "
        "(use a name like tcp, udp, icmp, sctp or a number 1-255)",
    ),
    "test destination with a port range": (
        ('["tag:k8s:443"]', '["tag:k8s:443-444"]'),
        f"{F}:19:15: tests[0].accept[0]: 'tag:k8s:443-444': a test destination takes exactly one port, not '443-444'",
    ),
    "test destination without a port": (
        ('["tag:k8s:443"]', '["tag:k8s"]'),
        f"{F}:19:15: tests[0].accept[0]: 'tag:k8s' has no port: a test destination is host:port, like \"tag:k8s:5432\"",
    ),
    "grant without ip or app": (
        ('\t\t\t"ip":  ["tcp:443"],\n', ""),
        f'{F}:10:3: grants[0]: a grant needs "ip" (network access) and/or "app" (capabilities)',
    ),
    "failing accept test": (
        ('"accept": ["tag:k8s:443"]', '"accept": ["tag:k8s:80"]'),
        f"{F}:17:3: tests[0]: failed: accept erich@example.com -> tag:k8s:80: no grant or acl allows it",
    ),
    "failing deny test": (
        ('"deny":   ["tag:homelab:22"]', '"deny":   ["tag:k8s:443"]'),
        f"{F}:17:3: tests[0]: failed: deny erich@example.com -> tag:k8s:443: allowed by grants[0]",
    ),
    "grants is not an array": (
        ('\t"grants": [', '\t"grants": {"x": 1},\n\t"old": ['),
        f"{F}:9:12: grants: must be an array",
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_policy_fails_with_a_precise_message(case: str) -> None:
    (old, new), message = MALFORMED[case]
    assert BASE.count(old) == 1
    with pytest.raises(TailnetPolicyError) as info:
        merge(BASE.replace(old, new))
    assert info.value.problems == [message]


@pytest.mark.parametrize(
    "text",
    [
        "hunter2-CANARY-s3cret\n",  # a password file named by mistake
        "Q0FOQVJZLWJhc2U2NC1wYXNzcGhyYXNlLXZhbHVl\n",  # a base64 passphrase
        "CANARY=1 secret\n",
        '{"CANARY": 1 "x": 2}',
        '{"CANARY": 1, "CANARY": 2}',
        '{"CANARY" 1}',
        '"CANARY\\q"',
        "-CANARY",
        "123CANARY",
        "{} CANARY",
        "[CANARY]",
    ],
)
def test_a_policy_file_that_does_not_parse_is_never_quoted(text: str) -> None:
    """Position and kind only: ``pg-dr check`` and ``pulumi preview`` print this to CI logs (issue 16)."""
    with pytest.raises(TailnetPolicyError) as info:
        merge(text)
    (message,) = info.value.problems
    assert message.startswith(f"{F}:1:") and message.endswith("(the file named by pg-dr:tailnet.policyFile)")
    for secret in ("CANARY", "hunter", "s3cret", "Q0FO", "base64"):
        assert secret not in message, message


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200b", "\ufeff"])
def test_a_policy_with_a_bidi_control_or_invisible_character_is_refused(char: str) -> None:
    """A review of the merged policy must show what is applied (issue 16): a U+202E in a comment reorders it."""
    text = BASE.replace('"tcp:443"', f'"tcp:443"{char}', 1)
    line = text[: text.index(char)].count("\n") + 1
    with pytest.raises(TailnetPolicyError) as info:
        merge(text)
    (message,) = info.value.problems
    assert message.startswith(f"{F}:{line}:") and f"(U+{ord(char):04X})" in message


def test_tags_the_backups_need_must_be_declared() -> None:
    text = BASE.replace('\t\t"tag:k8s":     ["group:admins"],\n', "").replace('"tag:homelab":', '"tag:other":  ')
    text = text.replace('"dst": ["tag:k8s"]', '"dst": ["*"]').replace('"accept": ["tag:k8s:443"],\n', "")
    text = text.replace('"tag:homelab:22"', '"tag:other:22"')
    with pytest.raises(TailnetPolicyError) as info:
        merge(text)
    fix = f"is not declared in tagOwners of {F}: add it there (Tailscale rejects undeclared tags)"
    assert info.value.problems == [
        f"pg-dr:tailnet.backupSource: tag:homelab {fix}",
        f"pg-dr:backup.databases[0].tailnetTag: tag:k8s {fix}",
    ]


def test_every_problem_is_listed_at_once() -> None:
    text = BASE.replace('"tcp:443"', '"tcp:0"').replace('"tag:homelab:22"', '"tag:homelab:*"')
    with pytest.raises(TailnetPolicyError) as info:
        merge(text)
    assert len(info.value.problems) == 2
    assert str(info.value).startswith("invalid tailnet policy (2 problems):\n  policy/tailnet.hujson:13:12: ")


def test_acls_ssh_and_hosts_are_checked_too() -> None:
    extra = (
        '\t"hosts": {\n\t\t"nas": "192.168.1.300",\n\t},\n'
        '\t"acls": [\n\t\t{\n\t\t\t"action": "accept",\n\t\t\t"src":    ["tag:ci"],\n'
        '\t\t\t"dst":    ["tag:k8s:22-", "backup:22"],\n\t\t},\n\t],\n'
        '\t"ssh": [\n\t\t{\n\t\t\t"action": "accept",\n\t\t\t"src":    ["group:admins"],\n'
        '\t\t\t"dst":    ["tag:nas"],\n\t\t\t"users":  ["root"],\n\t\t},\n\t],\n'
    )
    with pytest.raises(TailnetPolicyError) as info:
        merge(BASE.replace('\t"grants": [', extra + '\t"grants": ['))
    assert info.value.problems == [
        f'{F}:10:10: hosts.nas: "192.168.1.300" is not an IP address or CIDR',
        f"{F}:15:15: acls[0].src[0]: tag:ci is not declared in tagOwners (Tailscale rejects undeclared tags)",
        f'{F}:16:15: acls[0].dst[0]: "tag:k8s:22-": empty port (stray comma or dash?)',
        f'{F}:16:30: acls[0].dst[1]: "backup" is not a user, group:, tag:, autogroup:, IP/CIDR or a host in hosts',
        f"{F}:23:15: ssh[0].dst[0]: tag:nas is not declared in tagOwners (Tailscale rejects undeclared tags)",
    ]


def test_empty_src_and_dst_lists_are_accepted_like_tailscale_does() -> None:
    """An empty ``src`` or ``dst`` is valid policy (the rule matches nothing): it must not stop a render."""
    extra = (
        '\t"acls": [\n\t\t{"action": "accept", "src": [], "dst": []},\n\t],\n'
        '\t"grants": [\n\t\t{"src": [], "dst": ["tag:k8s"], "ip": ["*"]},\n'
        '\t\t{"src": ["tag:homelab"], "dst": [], "ip": ["*"]},\n'
    )
    merged = merge(BASE.replace('\t"grants": [\n', extra))
    assert merged.added_grants == [{"src": ["tag:homelab"], "dst": ["tag:k8s"], "ip": ["tcp:5432"]}]
    assert {r.status for r in merged.results} == {"passed"}  # the empty rules allow nothing


def test_src_and_dst_must_still_be_arrays() -> None:
    extra = '\t"acls": [\n\t\t{"action": "accept", "src": "tag:homelab"},\n\t],\n\t"grants": [\n'
    with pytest.raises(TailnetPolicyError) as info:
        merge(BASE.replace('\t"grants": [\n', extra))
    assert info.value.problems == [
        f"{F}:10:31: acls[0].src: must be an array",
        f'{F}:10:3: acls[0].dst: must be an array of "host:ports"',
    ]
