"""Run the pg-dr policy pack on a render the way the Pulumi engine drives an analyzer.

The pack's own gRPC servicer (pulumi-policy 1.21.0's ``_PolicyAnalyzerServicer``, what ``PolicyPack``
serves) gets the engine's requests: ``Configure`` with the config the CLI reconciles from a
``--policy-pack-config`` file (schema defaults, then ``all``, then per-policy values, validated against
each policy's schema; stricter than the CLI in one way: unknown properties and policy names fail),
``Analyze`` per resource (inputs as a protobuf Struct with secrets in the engine's secret envelope,
options incl. ``protect``) and ``AnalyzeStack`` once. The stack config is
visible to the pack as the CLI passes it (``PULUMI_CONFIG``).

Limits of the offline engine: custom resources' outputs are their inputs (the mocks echo them), so
``AnalyzeStack`` sees inputs, as a preview of a create does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pulumi.runtime
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from components.project import PROJECT_DIR
from offline.engine import (
    SECRET_SIG,
    SPECIAL_SIG_KEY,
    UNKNOWN,
    RegisteredResource,
    Render,
    Secret,
    load_project,
    load_stack_file,
    qualify_config,
)
from policy import secret_marks
from policy.rules import PACK_NAME, POLICIES

secret_marks.install()  # as policy/__main__.py does

POLICY_DIR = PROJECT_DIR / "policy"
LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    urn: str
    message: str
    level: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.policy} {self.urn}: {self.message}"


# --------------------------------------------------------------------------------------- config
def config_schema(policy: Policy) -> dict[str, Any]:
    """The JSON schema the CLI validates a policy's config against (``enforcementLevel`` injected)."""
    properties = dict(policy.config_schema.properties) if policy.config_schema else {}
    properties["enforcementLevel"] = {"type": "string", "enum": list(LEVELS)}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def reconcile(file_config: Mapping[str, Any] | None, policies: list[Policy] = POLICIES) -> dict[str, dict[str, Any]]:
    """A ``--policy-pack-config`` file's content reconciled the way the CLI does, per policy."""
    given = {k: ({"enforcementLevel": v} if isinstance(v, str) else dict(v)) for k, v in (file_config or {}).items()}
    unknown = set(given) - {p.name for p in policies} - {"all"}
    if unknown:
        raise ValueError(f"policy config names unknown policies: {sorted(unknown)}")
    result: dict[str, dict[str, Any]] = {}
    for policy in policies:
        props = {
            k: copy.deepcopy(v["default"])
            for k, v in (policy.config_schema.properties if policy.config_schema else {}).items()
            if "default" in v
        }
        level = (policy.enforcement_level or EnforcementLevel.ADVISORY).value
        level = given.get("all", {}).get("enforcementLevel", level)
        props.update(given.get(policy.name, {}))
        props["enforcementLevel"] = props.get("enforcementLevel", level)
        jsonschema.validate(props, config_schema(policy))
        result[policy.name] = props
    return result


def load_pack_config(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# -------------------------------------------------------------------------------------- servicer
def servicer(file_config: Mapping[str, Any] | None = None) -> _PolicyAnalyzerServicer:
    """The pack's analyzer, configured as the CLI would with a ``--policy-pack-config`` file's content."""
    analyzer = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", POLICIES, EnforcementLevel.MANDATORY)
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, config in reconcile(file_config).items():
        properties = struct_pb2.Struct()
        properties.update({k: v for k, v in config.items() if k != "enforcementLevel"})
        request.policyConfig[name].CopyFrom(
            analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[config["enforcementLevel"]], properties=properties)
        )
    analyzer.Configure(request, None)
    return analyzer


def _wire(value: Any) -> Any:
    """A render value as the engine marshals it: secrets in the secret envelope, unknowns as the sentinel."""
    if isinstance(value, Secret):
        return {SPECIAL_SIG_KEY: SECRET_SIG, "value": _wire(value.value)}
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if value == "[unknown]":
        return UNKNOWN
    return value


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(_wire(dict(value)), struct_pb2.Struct())


def _diagnostics(response: Any, urn: str = "") -> list[Diagnostic]:
    return [
        Diagnostic(d.policyName, d.urn or urn, d.message, LEVEL_NAMES[d.enforcementLevel]) for d in response.diagnostics
    ]


def _options(r: RegisteredResource) -> analyzer_pb2.AnalyzerResourceOptions:
    """The options the engine sends (``retainOnDelete`` is not among them)."""
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=r.protect,
        ignoreChanges=r.options["ignoreChanges"],
        deleteBeforeReplace=r.options["deleteBeforeReplace"],
        additionalSecretOutputs=r.options["additionalSecretOutputs"],
        parent=r.parent or "",
    )


@contextmanager
def stack_config(render: Render, config: Mapping[str, Any] | None = None) -> Iterator[None]:
    """The stack's config (``config:`` of its stack file unless given), visible to the pack as the CLI passes it."""
    project, defaults = load_project(PROJECT_DIR)
    if config is None:
        path = PROJECT_DIR / f"Pulumi.{render.stack}.yaml"
        config = load_stack_file(PROJECT_DIR, render.stack) if path.exists() else {}
    qualified, _ = qualify_config(project, {**defaults, **config})
    pulumi.runtime.set_all_config(qualified, [])
    try:
        yield
    finally:
        pulumi.runtime.set_all_config({}, [])


def run_pack(
    render: Render, file_config: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None
) -> list[Diagnostic]:
    """Every diagnostic the pack reports for a render: per resource, then for the whole stack.

    ``file_config`` is a ``--policy-pack-config`` file's content; ``config`` the stack config the render
    was made from (default: the stack file of ``render.stack``).
    """
    analyzer = servicer(file_config)
    found: list[Diagnostic] = []
    with stack_config(render, config):
        for r in render.resources:
            request = analyzer_pb2.AnalyzeRequest(
                type=r.type,
                properties=_struct(r.inputs),
                urn=r.urn,
                name=r.name,
                options=_options(r),
            )
            found += _diagnostics(analyzer.Analyze(request, None), r.urn)
        stack_request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r.type,
                    properties=_struct(r.inputs if r.custom else r.outputs),
                    urn=r.urn,
                    name=r.name,
                    options=_options(r),
                    parent=r.parent or "",
                    dependencies=r.dependencies,
                )
                for r in render.resources
            ]
        )
        found += _diagnostics(analyzer.AnalyzeStack(stack_request, None))
    return found
