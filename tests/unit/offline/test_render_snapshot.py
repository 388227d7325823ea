"""What ``pg-dr render dev|prod`` writes is reviewed: the committed snapshot is the renders, byte for byte.

The snapshot (``renders/<stack>/``) was taken before the architecture move and proves the move changed
nothing that reaches the engine or a host. A change that means to alter a render regenerates the
snapshot (``make snapshot``) so the difference is part of the commit under review. Each file is stored
with the suffix ``.snap`` (``scripts/borgmatic-config.sh.snap``): it is an expected output, not source.
"""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import pytest

from components.project import PROJECT_DIR
from offline.cli import main
from offline.promotion import compare, format_diff
from offline.review import CREDENTIAL_VARIABLES
from tests.support.fake_secrets import fake_secrets_for_file

SNAPSHOT = Path(__file__).resolve().parent / "renders"
SUFFIX = ".snap"


def _tree(root: Path, suffix: str = "") -> dict[str, bytes]:
    return {
        str(p.relative_to(root)).removesuffix(suffix): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_render_is_byte_identical_to_the_snapshot(
    stack: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # summary.md says which credentials this shell lacks: the snapshot is taken in a shell that has none
    referenced = fake_secrets_for_file(PROJECT_DIR / f"Pulumi.{stack}.yaml").environ  # the stack's env: names
    for name in [*CREDENTIAL_VARIABLES, *referenced]:
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / stack
    assert main(["render", stack, "--out", str(out), "--previous", "none"]) == 0
    if os.environ.get("PG_DR_UPDATE_SNAPSHOT") == "1":
        target = SNAPSHOT / stack
        for old in target.rglob("*"):
            if old.is_file():
                old.unlink()
        for rel, data in _tree(out).items():
            (target / (rel + SUFFIX)).parent.mkdir(parents=True, exist_ok=True)
            (target / (rel + SUFFIX)).write_bytes(data)
    expected, actual = _tree(SNAPSHOT / stack, SUFFIX), _tree(out)
    assert sorted(actual) == sorted(expected), "files added or removed: run `make snapshot` and review the diff"
    changed = [rel for rel in expected if not filecmp.cmp(SNAPSHOT / stack / (rel + SUFFIX), out / rel, shallow=False)]
    assert changed == [], f"renders differ from the snapshot: {changed}"
    # and the promotion diff of the two graphs shows nothing
    diff = compare(json.loads(expected["graph.json"]), json.loads(actual["graph.json"]))
    assert not diff.differs, format_diff(diff)
