"""Stack files are read as the Pulumi CLI reads them (YAML 1.2, yaml.v3), and bad ones fail cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from components.project import PROJECT_DIR
from offline.cli import main
from offline.engine import RenderError, load_stack_file, qualify_config
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


def test_yaml_1_2_scalars_are_read_as_the_cli_reads_them(tmp_path: Path) -> None:
    """yaml.v3: yes/off are strings, dates are Go times the CLI passes as text, leading-zero integers are octal."""
    _project(
        tmp_path,
        "config:\n  pg-dr:drill:\n    runId: 2026-01-19\n    quoted: '2026-01-19'\n    note: yes\n    other: off\n"
        "    minute: 010\n    at: 2026-01-19T10:30:00Z\n",
    )
    assert load_stack_file(tmp_path, "t") == {
        "pg-dr:drill": {
            "runId": "2026-01-19 00:00:00 +0000 UTC",
            "quoted": "2026-01-19",
            "note": "yes",
            "other": "off",
            "minute": 8,
            "at": "2026-01-19 10:30:00 +0000 UTC",
        }
    }


def test_sections_travel_as_the_cli_marshals_them() -> None:
    """Go's json.Marshal: keys sorted, a whole float has no fraction (so `port: 22.0` is the integer 22)."""
    config, _ = qualify_config(
        "pg-dr", {"backup": {"port": 22.0, "b": 1.5, "a": [2.0], "m": {"x": 1, 2024: 5, True: 0}}, "ratio": 3.0}
    )
    assert config == {
        "pg-dr:backup": '{"a":[2],"b":1.5,"m":{"2024":5,"true":0,"x":1},"port":22}',
        "pg-dr:ratio": "3",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"backup": {}, "pg-dr:backup": {}}, "backup and pg-dr:backup are the same config key"),
        ({"pg-dr:backup": {"port": float("inf")}}, "pg-dr:backup: .inf and .nan are not numbers"),
    ],
)
def test_keys_and_numbers_the_cli_refuses(raw: dict, expected: str) -> None:
    with pytest.raises(RenderError, match=expected):
        qualify_config("pg-dr", raw)


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
    "an ESC environment": (
        "environment:\n  - homelab/prod\nconfig:\n  pg-dr:tailnet: {manage: false}\n",
        "Pulumi.t.yaml: environment: imports Pulumi ESC environments, which an offline render cannot open",
    ),
    "no config key": ("secretsprovider: passphrase\n", "Pulumi.t.yaml: no config: mapping"),
    "config is a list": ("config:\n  - pg-dr:tailnet\n", "config: must be a mapping"),
    "empty config": ("config:\n", "the stack configures no pg-dr section"),
    "only provider config": ("config:\n  kubernetes:context: kind\n", "the stack configures no pg-dr section"),
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


def test_a_fifo_a_device_or_a_huge_stack_file_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "Pulumi.fifo.yaml")
    (tmp_path / "Pulumi.zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "Pulumi.huge.yaml").write_bytes(b"config: {}\n" + b"#" * (5 * 1024 * 1024))
    for name in ("fifo", "zero"):
        with pytest.raises(RenderError, match=rf"Pulumi\.{name}\.yaml in .* is not a regular file"):
            load_stack_file(tmp_path, name)
    with pytest.raises(RenderError, match=r"Pulumi\.huge\.yaml: larger than 4 MiB"):
        load_stack_file(tmp_path, "huge")


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    _project(tmp_path, "\n".join(lines) + "\nconfig:\n  pg-dr:drill: {note: *a8}\n")
    with pytest.raises(RenderError, match="anchors and aliases expand to more than 1,000,000 values"):
        load_stack_file(tmp_path, "t")


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    _project(tmp_path, "config:\n  pg-dr:drill: &d {note: *d}\n")
    with pytest.raises(RenderError, match="an alias refers to a node that contains it"):
        load_stack_file(tmp_path, "t")
