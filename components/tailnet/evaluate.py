"""An offline evaluator of a tailnet policy's own ``tests`` against its ``grants`` and legacy ``acls``.

Tailscale runs a policy's tests when it is saved and rejects the policy if one fails; this runs them
before any API call. Decisions are three-valued: a selector match is ``True``, ``False`` or ``None``
(cannot be decided offline). Decided: ``*``, tags, ``hosts`` aliases, IPs and CIDRs, users and
``groups`` (by membership), and autogroups against a tag (a tagged device is in ``autogroup:tagged``
and ``autogroup:danger-all``, never in a user or role autogroup like ``autogroup:admin``).
Not decided: autogroups against a user or an address (who is an admin or a member is not in the
policy), ``ipset:`` names, a tag, group or user against an address inside the tailnet's ranges
(device addresses are not in the policy; addresses outside them, like subnet routes, are decided:
no device holds them), grants with ``srcPosture`` or ``via``. A test whose outcome depends on an
undecided match is reported as undecided, never as passed.

A test destination names one host: a prefix (``10.0.0.0/8:22``, even ``100.64.0.16/32:22``, or a
``hosts`` alias to one) is not evaluated as the range it covers. Tailscale's API fails such tests
("test(s) failed") where a range-wide evaluation would pass them, so they are undecided here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from components.tailnet.rules import (
    ALL_PORTS,
    PROTOCOLS,
    IpSpec,
    parse_acl_destination,
    parse_ip,
    parse_protocol,
    parse_test_destination,
    selector_kind,
)

Tri = bool | None
_ACL_DEFAULT_PROTOCOLS = frozenset({PROTOCOLS["tcp"], PROTOCOLS["udp"], PROTOCOLS["icmp"], PROTOCOLS["ipv6-icmp"]})


@dataclass(frozen=True)
class Identity:
    """Who a test speaks for, or which destination host it names: ``kind`` is tag, user or ip."""

    kind: str
    value: str


@dataclass(frozen=True)
class Rule:
    """A grant or acl reduced to what network access needs."""

    label: str  # grants[3], acls[0], or a generated label
    src: tuple[str, ...]
    dst: tuple[tuple[str, tuple[tuple[int, int], ...] | None], ...]  # (selector, acl ports or None)
    ip: tuple[IpSpec, ...]
    conditional: str | None = None  # srcPosture / via: holds only under conditions not known offline


@dataclass(frozen=True)
class TestResult:
    label: str
    status: str  # passed | failed | undecided
    detail: str

    def __str__(self) -> str:
        return f"{self.label}: {self.status}: {self.detail}"


def _tri_any(values: Iterable[Tri]) -> Tri:
    seen_unknown = False
    for value in values:
        if value is True:
            return True
        seen_unknown |= value is None
    return None if seen_unknown else False


def _tri_all(values: Iterable[Tri]) -> Tri:
    seen_unknown = False
    for value in values:
        if value is False:
            return False
        seen_unknown |= value is None
    return None if seen_unknown else True


# What an autogroup means for a tagged device, where that does not depend on the tailnet's devices:
# tagged devices have no user, so user and role autogroups never include them.
TAG_AUTOGROUPS = {
    "autogroup:tagged": True,
    "autogroup:danger-all": True,
    **dict.fromkeys(
        (
            "autogroup:member",
            "autogroup:self",
            "autogroup:shared",
            "autogroup:internet",
            "autogroup:owner",
            "autogroup:admin",
            "autogroup:network-admin",
            "autogroup:it-admin",
            "autogroup:billing-admin",
            "autogroup:auditor",
        ),
        False,
    ),
}
TAILNET_RANGES = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd7a:115c:a1e0::/48"))


def _in_tailnet(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """Whether a device's Tailscale address could fall in ``net``."""
    return any(net.version == r.version and net.overlaps(r) for r in TAILNET_RANGES)


def _network(text: str, policy: dict[str, Any]) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    hosts = policy.get("hosts") or {}
    return ipaddress.ip_network(hosts.get(text, text), strict=False)


def matches(identity: Identity, selector: str, policy: dict[str, Any]) -> Tri:
    """Whether ``selector`` (from a grant or acl) covers ``identity``."""
    kind = selector_kind(selector, policy)
    if kind == "any":
        return True
    if kind == "autogroup":
        if identity.kind == "tag" and selector in TAG_AUTOGROUPS:
            return TAG_AUTOGROUPS[selector]
        return None
    if identity.kind == "ip":
        own = _network(identity.value, policy)
        if kind in ("ip", "host"):
            return own.version == _network(selector, policy).version and own.subnet_of(_network(selector, policy))
        if kind in ("tag", "group", "user") and not _in_tailnet(own):
            return False  # those select devices' Tailscale addresses only
        return None  # a device of that tag, group or user may hold the address: unknown offline
    if kind in ("ip", "host"):
        return False if not _in_tailnet(_network(selector, policy)) else None
    if kind in ("ipset", "unknown"):
        return None
    if kind == "tag":
        return identity.kind == "tag" and identity.value == selector
    if identity.kind == "tag":
        return False  # a tagged device has no user identity: groups and users never cover it
    if kind == "group":
        members = (policy.get("groups") or {}).get(selector, [])
        return identity.value.lower() in {m.lower() for m in members}
    return identity.value.lower() == selector.lower()  # user


def identities(src: str, policy: dict[str, Any]) -> list[Identity]:
    kind = selector_kind(src, policy)
    if kind == "tag":
        return [Identity("tag", src)]
    if kind == "user":
        return [Identity("user", src)]
    if kind == "group":
        return [Identity("user", member) for member in (policy.get("groups") or {}).get(src, [])]
    if kind in ("ip", "host"):
        return [Identity("ip", src)]
    return []


def rules(policy: dict[str, Any]) -> list[Rule]:
    """Network rules of a validated policy: grants with ``ip``, then acls."""
    found: list[Rule] = []
    for i, grant in enumerate(policy.get("grants") or []):
        if "ip" not in grant:
            continue  # app capabilities only: no network access
        conditional = next((key for key in ("srcPosture", "via") if grant.get(key)), None)
        specs = tuple(parse_ip(entry) for entry in grant["ip"])
        found.append(
            Rule(f"grants[{i}]", tuple(grant["src"]), tuple((d, None) for d in grant["dst"]), specs, conditional)
        )
    for i, acl in enumerate(policy.get("acls") or []):
        protocols = frozenset({parse_protocol(str(acl["proto"]))}) if "proto" in acl else _ACL_DEFAULT_PROTOCOLS
        dst = tuple(parse_acl_destination(d) for d in acl.get("dst", acl.get("ports", [])))
        conditional = "srcPosture" if acl.get("srcPosture") else None
        found.append(
            Rule(
                f"acls[{i}]",
                tuple(acl.get("src", acl.get("users", []))),
                dst,
                (IpSpec(protocols, ALL_PORTS),),
                conditional,
            )
        )
    return found


def allows(rule: Rule, who: Identity, host: Identity, protocol: int, port: int, policy: dict[str, Any]) -> Tri:
    """Three-valued AND of protocol/port, destination and source, cheapest first (False decides at once)."""
    if not any(spec.allows(protocol, port) for spec in rule.ip):
        return False
    dst = _tri_any(
        matches(host, sel, policy) if ports is None or any(lo <= port <= hi for lo, hi in ports) else False
        for sel, ports in rule.dst
    )
    if dst is False:
        return False
    result = _tri_all([_tri_any(matches(who, sel, policy) for sel in rule.src), dst])
    return None if result is True and rule.conditional else result


def _host_identity(host: str, policy: dict[str, Any]) -> Identity | None:
    kind = selector_kind(host, policy)
    if kind == "tag":
        return Identity("tag", host)
    if kind == "user":
        return Identity("user", host)
    if kind in ("ip", "host"):
        return Identity("ip", host)
    return None


def _is_prefix(host: str, policy: dict[str, Any]) -> bool:
    """A test host written as a prefix (``a.b.c.d/n``) or a ``hosts`` alias to one, not a single address."""
    hosts = policy.get("hosts")
    value = hosts.get(host, host) if isinstance(hosts, dict) else host
    return isinstance(value, str) and "/" in value


PREFIX_DESTINATION = (
    "the destination is a prefix, not one address: Tailscale's API fails such a test, "
    "so write one address (or a hosts alias to one) and its port"
)


# Rule checks (rule x source identity, per test destination) one evaluation may make: a policy is at most
# 1 MiB, but thousands of tests against thousands of grants would take minutes. Past this, undecided.
MAX_CHECKS = 400_000


@dataclass
class _Budget:
    left: int = field(default_factory=lambda: MAX_CHECKS)

    def spend(self, checks: int) -> bool:
        self.left -= checks
        return self.left >= 0


def run_test(
    test: dict[str, Any],
    label: str,
    policy: dict[str, Any],
    all_rules: list[Rule],
    budget: _Budget | None = None,
) -> list[TestResult]:
    """One result per destination of a test."""
    budget = budget or _Budget()
    protocol = parse_protocol(str(test["proto"])) if "proto" in test else PROTOCOLS["tcp"]
    who = identities(test["src"], policy)
    results = []
    for expect in ("accept", "deny"):
        for dst in test.get(expect, []):
            host_name, port = parse_test_destination(dst)
            host = _host_identity(host_name, policy)
            what = f"{test['src']} -> {dst}"
            if _is_prefix(host_name, policy):
                results.append(TestResult(label, "undecided", f"{expect} {what}: {PREFIX_DESTINATION}"))
                continue
            if not who or host is None:
                reason = "source" if not who else "destination"
                results.append(
                    TestResult(label, "undecided", f"{expect} {what}: the {reason} cannot be resolved offline")
                )
                continue
            if not budget.spend(len(all_rules) * len(who)):
                detail = f"{expect} {what}: not evaluated (the policy's tests x rules exceed {MAX_CHECKS} checks)"
                results.append(TestResult(label, "undecided", detail))
                continue
            verdicts = {r.label: _tri_all(allows(r, w, host, protocol, port, policy) for w in who) for r in all_rules}
            allowed = _tri_any(verdicts.values())
            by = [name for name, v in verdicts.items() if v is True]
            unsure = [name for name, v in verdicts.items() if v is None]
            if allowed is None:
                detail = (
                    f"{expect} {what}: depends on {', '.join(unsure)} (autogroup, posture, via or device addresses)"
                )
                results.append(TestResult(label, "undecided", detail))
            elif (allowed is True) == (expect == "accept"):
                how = f"allowed by {', '.join(by)}" if by else "no grant or acl allows it"
                results.append(TestResult(label, "passed", f"{expect} {what}: {how}"))
            elif expect == "accept":
                results.append(TestResult(label, "failed", f"accept {what}: no grant or acl allows it"))
            else:
                results.append(TestResult(label, "failed", f"deny {what}: allowed by {', '.join(by)}"))
    return results


def evaluate(policy: dict[str, Any], labels: dict[int, str] | None = None) -> list[TestResult]:
    """Run every test of a validated policy; ``labels`` names tests (default ``tests[i]``)."""
    all_rules, budget = rules(policy), _Budget()
    results: list[TestResult] = []
    for i, test in enumerate(policy.get("tests") or []):
        results += run_test(test, (labels or {}).get(i, f"tests[{i}]"), policy, all_rules, budget)
    return results
