"""The remote pgpass scripts run by a real /bin/sh produce exactly the reference merge."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.borgmatic import plan as files
from components.remote import delivery
from components.remote.pgpass import merge_pgpass

_user_line = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\x00"), max_size=30),
    st.sampled_from(
        [
            "# comment",
            "*:*:*:*:pw",
            "h\\:x:5432:db:u:p\\\\w",
            "  # BEGIN pg-dr",
            "# END pg-dr ",
            "\r# BEGIN pg-dr",
            "x\r# END pg-dr",
        ]
    ),
)


def _deliver(target: Path) -> str:
    return delivery.deliver_pgpass(str(target), files.PGPASS_BEGIN, files.PGPASS_END)


def _remove(target: Path) -> str:
    return delivery.remove_pgpass(str(target), files.PGPASS_BEGIN, files.PGPASS_END)


def _framed(block: bytes) -> bytes:
    """The stdin the provider sends: the block behind its length-and-digest header line."""
    return delivery.frame(block.decode()).encode()


def _merge(existing: bytes | None, block: bytes | None) -> bytes:
    return merge_pgpass(existing, block, files.PGPASS_BEGIN, files.PGPASS_END)


def _run_sh(script: str, cwd: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["/bin/sh", "-c", script], input=stdin, cwd=cwd, capture_output=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    before=st.lists(_user_line, max_size=5),
    after=st.lists(_user_line, max_size=5),
    placed=st.booleans(),
    final_newline=st.booleans(),
)
def test_shell_splice_matches_the_reference_merge(tmp_path: Path, before, after, placed, final_newline) -> None:
    """The remote pgpass scripts (real /bin/sh) produce exactly ``merge_pgpass``: user bytes untouched."""
    target = tmp_path / "pgpass"
    old_block = b"# BEGIN pg-dr\nold:1:*:u:p\n# END pg-dr\n"
    text = "\n".join([*before, *([] if not placed else [old_block.decode().rstrip("\n")]), *after])
    content = text.encode() + (b"\n" if final_newline and text else b"")
    target.write_bytes(content)
    block = b"# BEGIN pg-dr\nh:5432:*:u:a\\:b\\\\c d\n# END pg-dr\n"
    proc = _run_sh(_deliver(target), tmp_path, _framed(block))
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == _merge(content, block)
    assert target.stat().st_mode & 0o777 == 0o600
    proc = _run_sh(_remove(target), tmp_path, _framed(block))
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes() == _merge(content, None)


def test_shell_refuses_a_malformed_block(tmp_path: Path) -> None:
    target = tmp_path / "pgpass"
    target.write_bytes(b"# BEGIN pg-dr\nmine\n")
    proc = _run_sh(_deliver(target), tmp_path, _framed(b"# BEGIN pg-dr\nx\n# END pg-dr\n"))
    assert proc.returncode == 1 and b"malformed pg-dr block (1 BEGIN, 0 END lines)" in proc.stderr
    assert target.read_bytes() == b"# BEGIN pg-dr\nmine\n"
