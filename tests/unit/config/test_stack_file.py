"""Stack files are read as the Pulumi CLI reads them (YAML 1.2, yaml.v3), and bad ones fail cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.project import PROJECT_DIR
from offline.cli import main
from offline.engine import RenderError, load_stack_file
from tests.support.render import render_config
from tests.support.stacks import stack


def _project(tmp_path: Path, stack_file: bytes | str) -> Path:
    """A copy of the project with one stack file, ``Pulumi.t.yaml``."""
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((PROJECT_DIR / "__main__.py").read_text())
    data = stack_file.encode() if isinstance(stack_file, str) else stack_file
    (tmp_path / "Pulumi.t.yaml").write_bytes(data)
    return tmp_path


def _render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    out = tmp_path / "out"
    code = main(["--project-dir", str(tmp_path), "render", "t", "--out", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code != 0:
        assert not out.exists(), "a failed render wrote files"
    return code, err


def test_yaml_1_2_scalars_are_strings_as_the_cli_reads_them(tmp_path: Path) -> None:
    _project(tmp_path, "config:\n  pg-dr:drill:\n    runId: 2026-01-19\n    note: yes\n    other: off\n")
    config = load_stack_file(tmp_path, "t")
    assert config == {"pg-dr:drill": {"runId": "2026-01-19", "note": "yes", "other": "off"}}


def test_a_date_run_id_renders(tmp_path: Path) -> None:
    text = yaml.safe_dump({"config": stack()}) + "  pg-dr:drill:\n    runId: 2026-01-19\n"
    render = render_config(load_stack_file(_project(tmp_path, text), "t"))
    assert render.resources


BAD_STACK_FILES = {
    "duplicate key": (
        "config:\n  pg-dr:tailnet:\n    manage: false\n    manage: true\n",
        "Pulumi.t.yaml:4: duplicate key 'manage' (first at line 3)",
    ),
    "duplicate section": (
        "config:\n  pg-dr:tailnet: {manage: false}\n  kubernetes:context: x\n  pg-dr:tailnet: {manage: true}\n",
        "Pulumi.t.yaml:4: duplicate key 'pg-dr:tailnet' (first at line 2)",
    ),
    "a list": ("- config:\n    pg-dr:tailnet: {manage: false}\n", "must be a mapping with a config: key, not a list"),
    "a scalar": ("just some text\n", "must be a mapping with a config: key, not a str scalar"),
    "not UTF-8": (b"config:\n  pg-dr:backup:\n    user: \xe9ric\n", "Pulumi.t.yaml: not UTF-8 (byte 0xe9 on line 3)"),
    "empty": ("", "Pulumi.t.yaml: empty"),
    "settings instead of config": (
        "settings:\n  pg-dr:tailnet: {manage: false}\n",
        "unknown top-level key 'settings'",
    ),
    "no config key": ("secretsprovider: passphrase\n", "Pulumi.t.yaml: no config: mapping"),
    "config is a list": ("config:\n  - pg-dr:tailnet\n", "config: must be a mapping"),
    "empty config": ("config:\n", "the stack sets no pg-dr:* key"),
    "only provider config": ("config:\n  kubernetes:context: kind\n", "the stack sets no pg-dr:* key"),
    "broken YAML": ("config:\n  pg-dr:tailnet: [\n", "Pulumi.t.yaml:3:1: not valid YAML"),
}


@pytest.mark.parametrize("case", BAD_STACK_FILES, ids=list(BAD_STACK_FILES))
def test_bad_stack_files_are_clear_errors(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BAD_STACK_FILES[case]
    code, err = _render(_project(tmp_path, text), capsys)
    assert code == 2
    assert expected in err


def test_duplicate_key_message_names_no_value(tmp_path: Path) -> None:
    _project(tmp_path, "config:\n  pg-dr:token: s3cr3t-one\n  pg-dr:token: s3cr3t-two\n")
    with pytest.raises(RenderError) as caught:
        load_stack_file(tmp_path, "t")
    assert "s3cr3t" not in str(caught.value)
