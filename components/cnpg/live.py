"""What pg-dr reads of the live cluster before it changes anything, and what it refuses.

Pulumi >= 3.174 (pulumi/pulumi#19339, ``pkg/resource/deploy/step_generator.go``) imports by reading the
live object and then applies every difference as an **update in the same ``up``**; for a custom resource
pulumi-kubernetes imports only apiVersion/kind/name/namespace (``provider/pkg/provider/provider.go``
``Read``), so the whole declared spec becomes a server-side apply. An ``import`` is therefore no proof
that the declared object equals the live one. pg-dr reads the objects itself (``Resource.get``; "Unlike
most steps, Read steps run during previews", ``pkg/resource/deploy/step.go`` ``ReadStep.Apply``) and the
resource that depends on a check is registered only once it passed, so it refuses, before any change,
when adopting would change what runs:

* an adopted Secret whose ``type`` or ``data`` differs from what pg-dr would apply (values never shown:
  "data.password differs");
* an adopted Cluster whose spec, outside ``managed.roles``, differs from what pg-dr would apply;
* (``rolesPatch``, ``databaseRole``) a Cluster that does not exist: the read fails at preview with the
  engine's "resource '<namespace>/<name>' does not exist" (a patch is not previewed by pulumi-kubernetes,
  and at ``up`` it would try to *create* the Cluster);
* (``databaseRole``) a role still inline in the Cluster's ``spec.managed.roles``: CNPG would mark its
  DatabaseRole ``applied=false`` ("database role is already managed by the CNPG cluster") and the ``up``
  would wait for it until it times out.

Offline (``pg-dr render``, no cluster) a read returns no ``metadata`` and there is nothing to compare.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.keypath import key_path, leaves

LIVE_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status", "data", "type")


class LiveStateError(pulumi.RunError):
    """The live cluster is not what pg-dr can safely apply onto; one line per problem."""

    def __init__(self, what: str, problems: Sequence[str], remedy: str):
        self.problems = list(problems)
        lines = "\n  ".join(self.problems)
        super().__init__(f"{what}:\n  {lines}\n{remedy}")


class LiveObject(pulumi.CustomResource):
    """A read of any Kubernetes object (``Resource.get`` by ``<namespace>/<name>``): its whole live state.

    The outputs are the object's top-level fields (``metadata``, ``spec``, ``data``, ``type``, ...); the
    read registers nothing with the cluster and runs at preview.
    """

    metadata: pulumi.Output[Any]
    spec: pulumi.Output[Any]
    data: pulumi.Output[Any]
    type: pulumi.Output[Any]

    def __init__(self, name: str, type_: str, id_: str, opts: pulumi.ResourceOptions):
        read = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=id_))
        super().__init__(type_, name, dict.fromkeys(LIVE_FIELDS), read)


def read_object(live: Mapping[str, Any]) -> bool:
    """Whether ``live`` is an object the read found (offline renders read nothing: no metadata)."""
    return bool(live.get("metadata"))


def secret_differences(live: Mapping[str, Any], secret_type: str, string_data: Mapping[str, str]) -> list[str]:
    """What adopting the Secret would change, without a value: its type, and each data key that differs."""
    problems: list[str] = []
    if live.get("type") != secret_type:
        problems.append(f"type is {live.get('type')!r}, pg-dr applies {secret_type!r}")
    data = live.get("data") or {}
    for key, wanted in string_data.items():
        if key not in data:
            problems.append(f"data.{key} is missing")
            continue
        try:
            same = base64.b64decode(str(data[key]), validate=True).decode() == wanted
        except (binascii.Error, UnicodeDecodeError):
            same = False
        if not same:
            problems.append(f"data.{key} differs")
    return problems


def spec_differences(live_spec: Mapping[str, Any] | None, declared: Mapping[str, Any], skip: str) -> list[str]:
    """Every declared spec field (outside ``skip``, a dotted path) whose live value differs, with both values."""
    problems: list[str] = []
    for parts, wanted in leaves(dict(declared)):
        path = key_path(parts)
        if path == skip or path.startswith((f"{skip}.", f"{skip}[")):
            continue
        actual: Any = live_spec or {}
        for part in parts:
            if isinstance(part, int):
                actual = actual[part] if isinstance(actual, list) and part < len(actual) else None
            else:
                actual = actual.get(part) if isinstance(actual, Mapping) else None
        if actual != wanted:
            shown = "absent" if actual is None else repr(actual)
            problems.append(f"spec.{path} is {shown}, pg-dr applies {wanted!r}")
    return problems


def inline_roles(live_spec: Mapping[str, Any] | None, names: Sequence[str]) -> list[str]:
    """The ``names`` that the Cluster still manages inline (``spec.managed.roles``)."""
    roles = ((live_spec or {}).get("managed") or {}).get("roles") or []
    inline = {r.get("name") for r in roles if isinstance(r, Mapping)}
    return [n for n in names if n in inline]


def gate(value: Any, *checks: pulumi.Output[Any]) -> pulumi.Output[Any]:
    """``value`` (plain, never secret) once every check has passed: an input that holds its resource back
    until then. A check over a secret (a password) is secret; the name it releases is not."""
    return pulumi.Output.unsecret(pulumi.Output.all(*checks).apply(lambda _: value))
