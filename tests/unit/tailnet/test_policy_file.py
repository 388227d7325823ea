"""Reading ``pg-dr:tailnet.policyFile``: bytes as they are, from a regular file of bounded size, never blocking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.borgmatic.config import DatabaseConfig
from components.hujson.document import loads
from components.project import PROJECT_DIR
from components.tailnet.component import MAX_POLICY_BYTES, read_policy_file
from components.tailnet.plan import TailnetPolicyError, merge_policy
from tests.support.render import render_config
from tests.support.stacks import stack

KEY = "pg-dr:tailnet.policyFile"
DATABASES = [DatabaseConfig(name="miniflux", hostname="k8s-pg", username="borgmatic", tailnet_tag="tag:k8s")]


_READER = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a reader that slurps /dev/zero stops here
from components.tailnet.component import read_policy_file
from components.tailnet.plan import TailnetPolicyError
path = Path(sys.argv[1])
try:
    read_policy_file(str(path), path.parent)
except TailnetPolicyError as exc:
    print("\\n".join(exc.problems))
    sys.exit(3)
"""


def _problems_within(path: Path, seconds: float = 20.0) -> list[str]:
    """read_policy_file's problems, read in a child process that must finish in time (a blocking open or an
    endless read would otherwise hang or exhaust the test run)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _READER, str(path)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=seconds,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path} did not return within {seconds} s")
    assert done.returncode == 3, done.stderr[-2000:]
    return done.stdout.splitlines()


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "policy.hujson"
    os.mkfifo(fifo)
    assert _problems_within(fifo) == [f"pg-dr:tailnet.policyFile: {fifo} is a FIFO (named pipe), not a regular file"]


def test_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    link = tmp_path / "policy.hujson"
    link.symlink_to("/dev/zero")
    assert _problems_within(link) == [f"pg-dr:tailnet.policyFile: {link} is a character device, not a regular file"]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert _problems_within(tmp_path) == [f"pg-dr:tailnet.policyFile: {tmp_path} is a directory, not a regular file"]


def test_an_oversize_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "policy.hujson"
    big.write_bytes(b"{\n" + b"\t// padding\n" * (MAX_POLICY_BYTES // 12 + 1) + b"}\n")
    size = big.stat().st_size
    assert _problems_within(big) == [
        f"pg-dr:tailnet.policyFile: {big} is {size} bytes, more than the {MAX_POLICY_BYTES} bytes a policy may have"
    ]


def test_a_file_that_is_not_utf8_names_the_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "policy.hujson"
    bad.write_bytes(b'{\n\t// caf\xe9\n\t"grants": [],\n}\n')
    assert _problems_within(bad) == [f"pg-dr:tailnet.policyFile: {bad} is not UTF-8 (an invalid byte on line 2)"]


def test_an_oversize_policy_fails_the_render_with_the_key(tmp_path: Path) -> None:
    big = tmp_path / "policy.hujson"
    big.write_bytes(b"{\n" + b" " * MAX_POLICY_BYTES + b"}\n")
    with pytest.raises(TailnetPolicyError) as info:
        render_config(stack(tailnet={"policyFile": str(big)}), project_dir=PROJECT_DIR)
    assert info.value.problems == [
        f"pg-dr:tailnet.policyFile: {big} is {MAX_POLICY_BYTES + 4} bytes, "
        f"more than the {MAX_POLICY_BYTES} bytes a policy may have"
    ]


def test_merge_policy_refuses_an_oversize_text_itself() -> None:
    text = "{}\n" + " " * MAX_POLICY_BYTES
    with pytest.raises(TailnetPolicyError) as info:
        merge_policy(text, "big.hujson", "tag:homelab", DATABASES)
    assert info.value.problems == [
        f"{KEY}: big.hujson is {MAX_POLICY_BYTES + 3} bytes, more than the {MAX_POLICY_BYTES} bytes a policy may have"
    ]


# ------------------------------------------------------------------------------------ bytes as they are
CR_POLICY = (
    b"{\n"
    b'\t"tagOwners": {\n\t\t"tag:homelab": ["autogroup:admin"],\n\t\t"tag:k8s":     ["autogroup:admin"],\n\t},\n'
    b'\t"grants": [\n'
    b'\t\t// disabled for now:\r\t\t{"src": ["*"], "dst": ["*"], "ip": ["*"]},\n'
    b"\t],\n"
    b"}\n"
)


def test_a_lone_cr_inside_a_line_comment_keeps_the_rest_of_the_comment_a_comment(tmp_path: Path) -> None:
    (tmp_path / "policy.hujson").write_bytes(CR_POLICY)
    text, name = read_policy_file("policy.hujson", tmp_path)
    assert text.encode() == CR_POLICY  # no newline translation
    merged = merge_policy(text, name, "tag:homelab", DATABASES)
    grants = loads(merged.text)["grants"]
    assert {"src": ["*"], "dst": ["*"], "ip": ["*"]} not in grants  # the commented-out grant stays commented out
    assert grants == [{"src": ["tag:homelab"], "dst": ["tag:k8s"], "ip": ["tcp:5432"]}]
    assert b'// disabled for now:\r\t\t{"src"' in merged.text.encode()


def test_a_crlf_policy_keeps_every_cr_and_the_generated_lines_use_crlf(tmp_path: Path) -> None:
    base = (PROJECT_DIR / "policy/tailnet.hujson").read_bytes().replace(b"\n", b"\r\n")
    (tmp_path / "policy.hujson").write_bytes(base)
    text, name = read_policy_file("policy.hujson", tmp_path)
    merged = merge_policy(text, name, "tag:homelab", DATABASES)
    out = merged.text.encode()
    assert out.count(b"\n") == out.count(b"\r\n") > base.count(b"\n")  # every line ends in CRLF, new ones too
    assert (
        out.replace(b"\r\n", b"\n")
        == merge_policy(text.replace("\r\n", "\n"), name, "tag:homelab", DATABASES).text.encode()
    )
    assert any("CRLF line ending" in w for w in merged.warnings)
