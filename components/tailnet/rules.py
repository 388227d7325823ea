"""Tailnet policy rules: the ``ip`` and port syntax, selectors, offline validation, derived backup grants.

Everything here is pure (no Pulumi): it works on the parsed policy (:class:`components.hujson.document.Document`)
and reports problems as ``file:line:col: path: message`` so a user can go straight to the spot.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from components.hujson.document import Document
from components.keypath import key_path

# IANA protocol numbers of the names the policy file accepts; only these carry ports.
PROTOCOLS = {
    "icmp": 1,
    "igmp": 2,
    "ipv4": 4,
    "ip-in-ip": 4,
    "tcp": 6,
    "egp": 8,
    "igp": 9,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "sctp": 132,
}
PORTED = frozenset({6, 17, 132})
ALL_PORTS = ((0, 65535),)
_DIGITS = re.compile(r"[0-9]+")


class RuleError(ValueError):
    """One malformed ``ip`` entry, port list or test destination."""


@dataclass(frozen=True)
class IpSpec:
    """A parsed ``ip`` entry: protocols (``None`` = any) and port ranges."""

    protocols: frozenset[int] | None
    ports: tuple[tuple[int, int], ...]

    def allows(self, protocol: int, port: int) -> bool:
        proto_ok = self.protocols is None or protocol in self.protocols
        return proto_ok and any(lo <= port <= hi for lo, hi in self.ports)


def parse_protocol(text: str) -> int:
    name = text.lower()
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    if _DIGITS.fullmatch(text):
        if text.startswith("0"):
            raise RuleError(f"protocol number {text!r} must be 1-255 without leading zeros")
        number = int(text)
        if 1 <= number <= 255:
            return number
        raise RuleError(f"protocol number {number} is out of range 1-255")
    raise RuleError(f"unknown protocol {text!r} (use a name like tcp, udp, icmp, sctp or a number 1-255)")


def _port(text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise RuleError(f"{text!r} is not a port number" if text else "empty port (stray comma or dash?)")
    number = int(text)
    if not 1 <= number <= 65535:
        raise RuleError(f"port {number} is out of range 1-65535")
    return number


def parse_ports(text: str) -> tuple[tuple[int, int], ...]:
    """``*``, a port, a range ``lo-hi`` or a comma-separated list of those."""
    if text == "*":
        return ALL_PORTS
    ranges = []
    for part in text.split(","):
        if "-" in part:
            lo_text, _, hi_text = part.partition("-")
            lo, hi = _port(lo_text), _port(hi_text)
            if lo > hi:
                raise RuleError(f"port range {part!r} is inverted (first port greater than last)")
            ranges.append((lo, hi))
        else:
            port = _port(part)
            ranges.append((port, port))
    return tuple(ranges)


def parse_ip(entry: Any) -> IpSpec:
    """One entry of a grant's ``ip``: ``*``, ``<ports>`` or ``<protocol>:<ports>``."""
    if not isinstance(entry, str):
        raise RuleError(f'{json.dumps(entry)} must be a string like "tcp:5432"')
    if entry == "*":
        return IpSpec(None, ALL_PORTS)
    if ":" not in entry:
        return IpSpec(None, parse_ports(entry))
    proto_text, _, ports_text = entry.partition(":")
    if ":" in ports_text:
        raise RuleError("expected <protocol>:<ports>, found more than one ':'")
    protocol = parse_protocol(proto_text)
    ports = parse_ports(ports_text)
    if protocol not in PORTED and ports != ALL_PORTS:
        raise RuleError(f'protocol {proto_text} has no ports: write "{proto_text}:*"')
    return IpSpec(frozenset({protocol}), ports)


def split_host_port(text: str) -> tuple[str, str]:
    """``host:port`` (IPv6 as ``[addr]:port``), split at the last colon."""
    if text.startswith("[") and "]:" in text:
        host, _, port = text[1:].partition("]:")
        return host, port
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise RuleError(f'{text!r} has no port: write host:port, like "tag:k8s:5432"')
    return host, port


def parse_test_destination(text: Any) -> tuple[str, int]:
    """A test destination: a host and exactly one port."""
    if not isinstance(text, str):
        raise RuleError(f'{json.dumps(text)} must be a string like "tag:k8s:5432"')
    host, port = split_host_port(text)
    if host in ("tag", "group", "autogroup", "ipset"):
        raise RuleError(f'{text!r} has no port: a test destination is host:port, like "tag:k8s:5432"')
    if port == "*" or "," in port or "-" in port:
        raise RuleError(f"{text!r}: a test destination takes exactly one port, not {port!r}")
    return host, _port(port)


def parse_acl_destination(text: Any) -> tuple[str, tuple[tuple[int, int], ...]]:
    if not isinstance(text, str):
        raise RuleError(f'{json.dumps(text)} must be a string like "tag:k8s:5432"')
    host, ports = split_host_port(text)
    return host, parse_ports(ports)


# ------------------------------------------------------------------------------------------ selectors
def selector_kind(sel: str, policy: dict[str, Any]) -> str:
    """What a source or destination selector names: any, tag, group, autogroup, ipset, user, ip, host, unknown."""
    if sel == "*":
        return "any"
    for prefix in ("tag", "group", "autogroup", "ipset"):
        if sel.startswith(prefix + ":"):
            return prefix
    if "@" in sel:
        return "user"
    try:
        ipaddress.ip_network(sel, strict=False)
        return "ip"
    except ValueError:
        pass
    hosts = policy.get("hosts")
    return "host" if isinstance(hosts, dict) and sel in hosts else "unknown"


# ------------------------------------------------------------------------------------------ validation
@dataclass
class Problems:
    doc: Document
    found: list[str] = field(default_factory=list)

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        self.found.append(f"{self.doc.locate(path)}: {key_path(path)}: {message}")


_SECTIONS = {"grants": list, "acls": list, "tests": list, "ssh": list, "groups": dict, "hosts": dict, "tagOwners": dict}


def validate(doc: Document) -> list[str]:
    """Every problem of a parsed policy a user must fix before Tailscale would accept it."""
    policy, problems = doc.value(), Problems(doc)
    if not isinstance(policy, dict):
        problems.add((), "the policy must be an object ({ ... })")
        return problems.found
    for section, kind in _SECTIONS.items():
        if section in policy and not isinstance(policy[section], kind):
            problems.add((section,), f"must be {'an array' if kind is list else 'an object'}")

    def typed_section(name: str, kind: type) -> Any:
        """A section of the right type, or an empty one (its type problem is reported above)."""
        return policy[name] if isinstance(policy.get(name), kind) else kind()

    for tag, owners in typed_section("tagOwners", dict).items():
        if not tag.startswith("tag:"):
            problems.add(("tagOwners", tag), "tag names start with 'tag:'")
        _strings(problems, ("tagOwners", tag), owners, policy, allow_empty=True)
    for group, members in typed_section("groups", dict).items():
        if not group.startswith("group:"):
            problems.add(("groups", group), "group names start with 'group:'")
        _strings(problems, ("groups", group), members, policy, allow_empty=True)
    for name, address in typed_section("hosts", dict).items():
        try:
            ipaddress.ip_network(address, strict=False)
        except (TypeError, ValueError):
            problems.add(("hosts", name), f"{json.dumps(address)} is not an IP address or CIDR")
    for i, grant in enumerate(typed_section("grants", list)):
        _check_grant(problems, ("grants", i), grant, policy)
    for i, acl in enumerate(typed_section("acls", list)):
        _check_acl(problems, ("acls", i), acl, policy)
    for i, rule in enumerate(typed_section("ssh", list)):
        if isinstance(rule, dict):
            for key in ("src", "dst"):
                _strings(problems, ("ssh", i, key), rule.get(key, []), policy)
    for i, test in enumerate(typed_section("tests", list)):
        _check_test(problems, ("tests", i), test, policy)
    return problems.found


def _check_selector(problems: Problems, path: tuple[str | int, ...], sel: str, policy: dict[str, Any]) -> None:
    kind = selector_kind(sel, policy)
    tag_owners, groups = policy.get("tagOwners"), policy.get("groups")
    if kind == "tag" and not (isinstance(tag_owners, dict) and sel in tag_owners):
        problems.add(path, f"{sel} is not declared in tagOwners (Tailscale rejects undeclared tags)")
    elif kind == "group" and not (isinstance(groups, dict) and sel in groups):
        problems.add(path, f"{sel} is not defined in groups")
    elif kind == "unknown":
        problems.add(path, f"{json.dumps(sel)} is not a user, group:, tag:, autogroup:, IP/CIDR or a host in hosts")


def _strings(
    problems: Problems, path: tuple[str | int, ...], value: Any, policy: dict, allow_empty: bool = False
) -> None:
    if not isinstance(value, list) or (not value and not allow_empty):
        problems.add(path, "must be a non-empty array of strings" if not allow_empty else "must be an array")
        return
    for j, sel in enumerate(value):
        if not isinstance(sel, str):
            problems.add((*path, j), f"{json.dumps(sel)} must be a string")
        else:
            _check_selector(problems, (*path, j), sel, policy)


def _check_grant(problems: Problems, path: tuple[str | int, ...], grant: Any, policy: dict[str, Any]) -> None:
    if not isinstance(grant, dict):
        problems.add(path, "a grant must be an object with src, dst and ip or app")
        return
    for key in ("src", "dst"):  # Tailscale accepts an empty list: the grant then matches nothing
        _strings(problems, (*path, key), grant.get(key), policy, allow_empty=True)
    if "via" in grant:
        _strings(problems, (*path, "via"), grant["via"], policy)
    if "ip" not in grant and "app" not in grant:
        problems.add(path, 'a grant needs "ip" (network access) and/or "app" (capabilities)')
    if "ip" in grant:
        if not isinstance(grant["ip"], list) or not grant["ip"]:
            problems.add((*path, "ip"), 'must be a non-empty array like ["tcp:443"]')
            return
        for j, entry in enumerate(grant["ip"]):
            try:
                parse_ip(entry)
            except RuleError as exc:
                problems.add((*path, "ip", j), f"{json.dumps(entry)}: {exc}")


def _check_acl(problems: Problems, path: tuple[str | int, ...], acl: Any, policy: dict[str, Any]) -> None:
    if not isinstance(acl, dict):
        problems.add(path, "an acl must be an object with action, src and dst")
        return
    if acl.get("action") != "accept":
        problems.add((*path, "action"), 'must be "accept"')
    src_key = "users" if "users" in acl and "src" not in acl else "src"  # legacy names only when used
    _strings(problems, (*path, src_key), acl.get(src_key), policy, allow_empty=True)  # empty: matches nothing
    dst_key = "ports" if "ports" in acl and "dst" not in acl else "dst"
    dst = acl.get(dst_key)
    if not isinstance(dst, list):
        problems.add((*path, dst_key), 'must be an array of "host:ports"')
        return
    for j, entry in enumerate(dst):
        try:
            host, _ = parse_acl_destination(entry)
        except RuleError as exc:
            problems.add((*path, dst_key, j), f"{json.dumps(entry)}: {exc}")
            continue
        _check_selector(problems, (*path, dst_key, j), host, policy)
    _check_proto(problems, path, acl)


def _check_proto(problems: Problems, path: tuple[str | int, ...], rule: dict[str, Any]) -> None:
    """The optional ``proto`` of an acl or a test."""
    if "proto" in rule:
        try:
            parse_protocol(str(rule["proto"]))
        except RuleError as exc:
            problems.add((*path, "proto"), str(exc))


def _check_test(problems: Problems, path: tuple[str | int, ...], test: Any, policy: dict[str, Any]) -> None:
    if not isinstance(test, dict):
        problems.add(path, "a test must be an object with src and accept and/or deny")
        return
    src = test.get("src")
    if not isinstance(src, str) or not src:
        problems.add((*path, "src"), "must be one user, group, tag, host or IP (a string)")
    else:
        _check_selector(problems, (*path, "src"), src, policy)
    if "accept" not in test and "deny" not in test:
        problems.add(path, 'a test needs "accept" and/or "deny"')
    for key in ("accept", "deny"):
        dsts = test.get(key, [])
        if not isinstance(dsts, list):
            problems.add((*path, key), 'must be an array of "host:port"')
            continue
        for j, dst in enumerate(dsts):
            try:
                host, _ = parse_test_destination(dst)
            except RuleError as exc:
                problems.add((*path, key, j), str(exc))
                continue
            _check_selector(problems, (*path, key, j), host, policy)
    _check_proto(problems, path, test)
