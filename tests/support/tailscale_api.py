"""A stand-in for the Tailscale API's policy file and for the ``tailscale.Acl`` provider that writes it.

Read from terraform-provider-tailscale v0.29.2 (what pulumi-tailscale 0.29.2 bridges),
``tailscale/resource_acl.go``, and its client tailscale.com/client/tailscale/v2 v2.9.0 ``PolicyFile``:

* **create** POSTs the policy with ``If-Match: ts-default`` unless ``overwrite_existing_content``: the API
  answers 412 when the tailnet's policy was ever edited, and the provider fails with "Overwrite
  Protected: You are trying to overwrite a non-default policy. Please import the ACL first or set
  overwrite_existing_content = true." (at ``up``; v0.29.2 has no plan-time check, so preview is green);
* **read/import** (``ImportState``: any id) GETs the policy as HuJSON; an import then applies the difference
  as an update in the same ``up`` (Pulumi >= 3.174);
* **update** POSTs with no ``If-Match`` (overwrites whatever is there);
* the API runs the policy's ``tests`` on every POST and rejects the **whole** POST (400, the policy
  unchanged) when one fails; ``failing`` decides which tests fail on the real tailnet (the local
  evaluator cannot decide tests that need devices).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.hujson.document import loads
from components.tailnet.evaluate import evaluate
from offline.engine import reveal

ACL_TYPE = "tailscale:index/acl:Acl"
DEFAULT_POLICY = '{\n  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]\n}\n'
OVERWRITE_PROTECTED = (
    "Overwrite Protected: You are trying to overwrite a non-default policy. Please import the ACL first "
    "or set overwrite_existing_content = true."
)


class TailscaleApiError(Exception):
    """An HTTP error answer: ``status`` and the message the provider reports."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(f"({status}) {message}")


@dataclass
class TailscaleApi:
    """One tailnet's policy file: ``GET``/``POST /api/v2/tailnet/-/acl`` with ETags."""

    policy: str = DEFAULT_POLICY
    edited: bool = False  # the policy was changed from the tailnet's default at some point
    failing: Callable[[Mapping[str, Any]], bool] = lambda test: False
    posts: list[tuple[str | None, int]] = field(default_factory=list)  # (If-Match, status)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.policy.encode()).hexdigest()[:16] + '"'

    def get(self) -> tuple[str, str]:
        return self.policy, self.etag

    def post(self, text: str, if_match: str | None = None) -> None:
        status = self._answer(text, if_match)
        self.posts.append((if_match, status))
        if status == 412:
            raise TailscaleApiError(412, "precondition failed, invalid old hash")
        if status != 200:
            raise TailscaleApiError(status, self._problem)
        self.policy, self.edited = text, True

    def _answer(self, text: str, if_match: str | None) -> int:
        if if_match == "ts-default" and self.edited:
            return 412
        if if_match not in (None, "ts-default", self.etag):
            return 412
        try:
            policy = loads(text)
        except ValueError as exc:
            self._problem = f"invalid policy: {exc}"
            return 400
        failed = [r for r in evaluate(policy) if r.status == "failed"]
        failed_here = [t for t in policy.get("tests") or [] if self.failing(t)]
        if failed or failed_here:
            lines = [str(r) for r in failed] + [f"test {t!r} failed" for t in failed_here]
            self._problem = "test(s) failed: " + "; ".join(lines)
            return 400
        return 200


class AclProvider:
    """``tailscale:index/acl:Acl`` resources of a render applied to a :class:`TailscaleApi` like ``up``."""

    def __init__(self, api: TailscaleApi):
        self.api = api
        self.state: dict[str, str] = {}  # URN -> the policy text last applied

    def apply(self, render: Any, *, preview: bool = False) -> list[str]:
        done: list[str] = []
        for r in render.resources:
            if r.type != ACL_TYPE:
                continue
            inputs = reveal(r.inputs)
            text = inputs["acl"]
            if r.urn in self.state:
                op = "same" if self.state[r.urn] == text else "update"
            elif r.options.get("importId"):
                self.state[r.urn] = self.api.get()[0]  # Read: the live HuJSON becomes the imported state
                op = "import" if self.state[r.urn] == text else "import+update"
            else:
                op = "create"
            if not preview and op != "same" and op != "import":
                etag = "ts-default" if op == "create" and not inputs.get("overwriteExistingContent") else None
                try:
                    self.api.post(text, etag)
                except TailscaleApiError as exc:
                    if exc.status == 412 and op == "create":
                        raise TailscaleApiError(412, OVERWRITE_PROTECTED) from None
                    raise
                self.state[r.urn] = text
            done.append(f"{op} Acl {r.name}")
        return done
