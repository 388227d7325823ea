"""TailnetPolicy: the tailnet policy file with the grants the backups need, proven before Tailscale sees it.

The base policy (``pg-dr:tailnet.policyFile``, human-edited HuJSON) gets one grant and one policy test
per backup database tag and port (:mod:`components.tailnet.plan`). It is read as bytes, from a regular
file of at most 1 MiB, and decoded as strict UTF-8 with every byte kept (CR and CRLF included).
Everything is validated while the component is constructed, before any resource registers: a broken
policy stops the program with :class:`~components.tailnet.plan.TailnetPolicyError` listing every problem.

With ``manage: true`` the merged text becomes a ``tailscale.Acl`` (which owns the whole policy
document); with ``manage: false`` nothing is sent, but the policy is still merged, validated and
published (``renderFiles`` -> ``tailnet/policy.hujson``). ``dependency`` is what must exist before
anything that needs the tailnet grant (the borgmatic verification): the Acl, or the component itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_tailscale as tailscale

from components.borgmatic.config import DatabaseConfig
from components.outputs import RENDER_FILES
from components.project import project_directory
from components.tailnet.config import TailnetConfig
from components.tailnet.plan import MAX_POLICY_BYTES, MERGED_NAME, MergedPolicy, TailnetPolicyError, merge_policy


def _policy_error(message: str) -> TailnetPolicyError:
    return TailnetPolicyError([f"pg-dr:tailnet.policyFile: {message}"])


_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_policy_bytes(path: Path, limit: int = MAX_POLICY_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, without ever blocking on the open or the read.

    A FIFO, a device (``/dev/zero``) or a directory is refused by ``fstat`` on a non-blocking descriptor
    before anything is read, and at most ``limit + 1`` bytes are read (a file that grows meanwhile).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "not a file")
            raise _policy_error(f"{path} is {kind}, not a regular file")
        if info.st_size > limit:
            raise _policy_error(f"{path} is {info.st_size} bytes, more than the {limit} bytes a policy may have")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _policy_error(f"{path} has more than the {limit} bytes a policy may have")
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode_policy(data: bytes, path: Path) -> str:
    """UTF-8 text with every byte kept: no newline translation (a lone CR stays a CR, CRLF stays CRLF)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _policy_error(f"{path} is not UTF-8 (invalid byte 0x{data[exc.start]:02x} on line {line})") from None


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
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
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
