"""Tailnet rules of the pg-dr policy pack: the ``tailscale:index/acl:Acl`` policy document.

The Acl's ``acl`` input is the HuJSON policy text exactly as it would be sent. It is read with the
program's own parsers (``components.hujson.document`` for HuJSON, ``components.tailnet.rules`` for ``ip`` entries
and test destinations; both pure Python, no Pulumi): ``policy/__main__.py`` puts the project root on
``sys.path``, so the pack runs from this repository, not as a standalone published pack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from components.hujson.document import HujsonError, loads
from components.tailnet.rules import (
    ALL_PORTS,
    PROTOCOLS,
    RuleError,
    parse_acl_destination,
    parse_ip,
    parse_protocol,
    parse_test_destination,
)

ACL = "tailscale:index/acl:Acl"
DEFAULT_WILDCARD_SOURCES = ["autogroup:admin"]


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, Sequence) else []


def _policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> Mapping[str, Any] | None:
    """The parsed policy document of an Acl, or None (with a violation when it does not parse)."""
    if args.resource_type != ACL:
        return None
    text = args.props.get("acl")
    if not isinstance(text, str):
        return None
    try:
        document = loads(text)
    except HujsonError as exc:
        report_violation(f"the tailnet policy does not parse: {exc}", None)
        return None
    return document if isinstance(document, Mapping) else None


def all_ports(entry: Any) -> bool:
    """A grant ``ip`` entry allowing every port (``*``, ``tcp:*``); malformed entries allow nothing."""
    try:
        return parse_ip(entry).ports == ALL_PORTS
    except RuleError:
        return False


def wildcard_destination(entry: Any) -> bool:
    """A legacy acl destination ``*:*``."""
    try:
        host, ports = parse_acl_destination(entry)
    except RuleError:
        return False
    return host == "*" and ports == ALL_PORTS


def wildcard_rules(document: Mapping[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """Every rule granting ``*`` destinations on all ports: (where, sources)."""
    for i, grant in enumerate(_list(document.get("grants"))):
        if not isinstance(grant, Mapping):
            continue
        if "*" in _list(grant.get("dst")) and any(all_ports(p) for p in _list(grant.get("ip"))):
            yield f"grants[{i}]", [str(s) for s in _list(grant.get("src"))]
    for i, acl in enumerate(_list(document.get("acls"))):
        if not isinstance(acl, Mapping):
            continue
        if any(wildcard_destination(d) for d in _list(acl.get("dst"))):
            yield f"acls[{i}]", [str(s) for s in _list(acl.get("src"))]


def validate_no_wildcard_grants(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    document = _policy(args, report_violation)
    if document is None:
        return
    allowed = set(args.get_config().get("wildcardSources", DEFAULT_WILDCARD_SOURCES))
    for where, sources in wildcard_rules(document):
        others = [s for s in sources if s not in allowed]
        if others or not sources:
            report_violation(
                f"{where} lets {', '.join(others) or 'everyone'} reach '*' on every port "
                f"(only {', '.join(sorted(allowed))} may)",
                None,
            )


def _test_accepts(test: Mapping[str, Any], tag: str, grant: Mapping[str, Any]) -> bool:
    """Whether a policy test from ``tag`` accepts a destination and port the grant allows."""
    if test.get("src") != tag:
        return False
    destinations = [str(d) for d in _list(grant.get("dst"))]
    try:
        specs = [parse_ip(entry) for entry in _list(grant.get("ip"))]
        protocol = parse_protocol(str(test["proto"])) if "proto" in test else PROTOCOLS["tcp"]
    except RuleError:
        return False
    for accepted in _list(test.get("accept")):
        try:
            host, port = parse_test_destination(accepted)
        except RuleError:
            continue
        if (host in destinations or "*" in destinations) and any(s.allows(protocol, port) for s in specs):
            return True
    return False


def untested_tag_grants(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, tag) for every tag source of a network grant that no policy test accepts."""
    tests = [t for t in _list(document.get("tests")) if isinstance(t, Mapping)]
    for i, grant in enumerate(_list(document.get("grants"))):
        if not isinstance(grant, Mapping) or not _list(grant.get("ip")):
            continue  # application capabilities only: nothing a connectivity test can accept
        for tag in (str(s) for s in _list(grant.get("src")) if str(s).startswith("tag:")):
            if not any(_test_accepts(t, tag, grant) for t in tests):
                yield f"grants[{i}]", tag


def validate_tag_grants_tested(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    document = _policy(args, report_violation)
    if document is None:
        return
    for where, tag in untested_tag_grants(document):
        report_violation(
            f"{where} from {tag} has no policy test accepting it "
            f'(add {{"src": "{tag}", "accept": ["<dst>:<port>"]}} to tests)',
            None,
        )


no_wildcard_grants = ResourceValidationPolicy(
    name="tailnet-no-wildcard-grant",
    description="No tailnet grant (or legacy acl) reaches '*' destinations on '*' ports, except for autogroup:admin.",
    validate=validate_no_wildcard_grants,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "wildcardSources": {
                "type": "array",
                "items": {"type": "string"},
                "default": DEFAULT_WILDCARD_SOURCES,
                "description": "sources allowed to reach * on every port",
            }
        }
    ),
    remediation_steps="Grant the tags and ports actually needed (tag:homelab -> tag:k8s on tcp:5432).",
)

tag_grants_tested = ResourceValidationPolicy(
    name="tailnet-tag-grant-tested",
    description=(
        "Every tailnet grant whose source is a tag has, for each such tag, a policy test from that tag "
        "accepting one of the grant's destinations on a granted port."
    ),
    validate=validate_tag_grants_tested,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Add a test to the policy: Tailscale then rejects any later edit that breaks the grant.",
)

TAILNET_POLICIES = [no_wildcard_grants, tag_grants_tested]
