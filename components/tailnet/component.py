"""TailnetPolicy: the tailnet policy file with the grants the backups need, proven before Tailscale sees it.

The base policy (``pg-dr:tailnet.policyFile``, human-edited HuJSON) gets one grant and one policy test
per backup database tag and port (:mod:`components.tailnet.plan`). It is read as bytes, from a regular
file of at most 1 MiB, and decoded as strict UTF-8 with every byte kept (CR and CRLF included).
Everything is validated while the component is constructed, before any resource registers: a broken
policy stops the program with :class:`~components.tailnet.plan.TailnetPolicyError` listing every problem.

With ``manage: true`` the merged text becomes a ``tailscale.Acl`` (which owns the whole policy
document). Its create sends ``If-Match: ts-default`` (terraform-provider-tailscale v0.29.2
``resource_acl.go``) and fails with 412 "Overwrite Protected" on a tailnet whose policy was ever edited:
``adopt: true`` imports the live policy instead, and ``overwriteExisting: true`` drops the precondition.
With ``manage: false`` nothing is sent, but the policy is still merged, validated and published
(``renderFiles`` -> ``tailnet/policy.hujson``). ``dependency`` is what must exist before anything
that needs the tailnet grant (the borgmatic verification): the Acl, or the component itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_tailscale as tailscale

from components.borgmatic.config import DatabaseConfig
from components.bounded_file import FileShapeError, read_regular_file
from components.outputs import RENDER_FILES
from components.project import project_directory
from components.tailnet.config import TailnetConfig
from components.tailnet.plan import MAX_POLICY_BYTES, MERGED_NAME, MergedPolicy, TailnetPolicyError, merge_policy

ACL_IMPORT_ID = "acl"


def _policy_error(message: str) -> TailnetPolicyError:
    return TailnetPolicyError([f"pg-dr:tailnet.policyFile: {message}"])


def read_policy_bytes(path: Path, limit: int = MAX_POLICY_BYTES) -> bytes:
    """The policy file's bytes: a regular file of at most ``limit`` bytes, read without ever blocking."""
    try:
        return read_regular_file(path, limit, "a policy may have")
    except FileShapeError as exc:
        raise _policy_error(str(exc)) from None


def decode_policy(data: bytes, path: Path) -> str:
    """UTF-8 text with every byte kept: no newline translation (a lone CR stays a CR, CRLF stays CRLF)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _policy_error(f"{path} is not UTF-8 (an invalid byte on line {line})") from None


def read_policy_file(policy_file: str, project_dir: Path) -> tuple[str, str]:
    """The base policy text and the name to report it by (relative to the project when inside it)."""
    path = Path(policy_file)
    path = path if path.is_absolute() else project_dir / path
    try:
        data = read_policy_bytes(path)
    except FileNotFoundError:
        raise _policy_error(f"{policy_file!r} does not exist (looked for {path}, relative to {project_dir})") from None
    except OSError as exc:
        raise _policy_error(f"cannot read {path}: {exc.strerror or exc}") from None
    text = decode_policy(data, path)
    try:
        name = str(path.resolve().relative_to(project_dir.resolve()))
    except ValueError:
        name = str(path)
    return text, name


@dataclass
class TailnetPolicyArgs:
    """``tailnet``: the ``pg-dr:tailnet`` section; ``databases``: the backup targets (``pg-dr:backup.databases``)."""

    tailnet: TailnetConfig
    databases: Sequence[DatabaseConfig] = field(default_factory=list)
    project_dir: Path | None = None


class TailnetPolicy(pulumi.ComponentResource):
    """The merged tailnet policy, and the ``tailscale.Acl`` that applies it when managed."""

    merged: MergedPolicy
    acl: tailscale.Acl | None
    dependency: pulumi.Resource
    summary: dict[str, Any]

    def __init__(self, name: str, args: TailnetPolicyArgs, opts: pulumi.ResourceOptions | None = None):
        # Prove the policy before registering anything: a broken policy must not reach the engine.
        project_dir = args.project_dir or project_directory()
        base_text, source = read_policy_file(args.tailnet.policy_file, project_dir)
        self.merged = merge_policy(base_text, source, args.tailnet.backup_source, args.databases)
        super().__init__("pg-dr:index:TailnetPolicy", name, None, opts)

        for warning in self.merged.warnings:
            pulumi.log.warn(warning, resource=self)
        self.acl = None
        if args.tailnet.manage:
            self.acl = tailscale.Acl(
                "tailnet-policy",
                acl=self.merged.text,
                overwrite_existing_content=args.tailnet.overwrite_existing,
                # Never reset the tailnet to the default policy: destroying this stack must not cut access.
                reset_acl_on_destroy=False,
                # adopt: imported by any id (ImportState passes it through); Pulumi >= 3.174 reads the live
                # policy and applies the merge as an update in the same up (no If-Match: never a 412). Once
                # in the state with that id, the import option is a no-op (step_generator.go).
                opts=pulumi.ResourceOptions(
                    parent=self, retain_on_delete=True, import_=ACL_IMPORT_ID if args.tailnet.adopt else None
                ),
            )
        self.dependency = self.acl or self
        self.summary = self._summary(args.tailnet, source)
        self.register_outputs({**self.summary, RENDER_FILES: {MERGED_NAME: self.merged.text}})

    def _summary(self, cfg: TailnetConfig, source: str) -> dict[str, Any]:
        results = self.merged.results
        return {
            "managed": cfg.manage,
            "policyFile": source,
            "backupSource": cfg.backup_source,
            "generatedGrants": self.merged.added_grants,
            "generatedTests": self.merged.added_tests,
            "testsPassed": sum(r.status == "passed" for r in results),
            "testsUndecided": [str(r) for r in self.merged.undecided],
        }


__all__ = ["MAX_POLICY_BYTES", "TailnetPolicy", "TailnetPolicyArgs", "TailnetPolicyError", "read_policy_file"]
