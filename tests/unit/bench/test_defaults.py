"""The dump/restore defaults pg-dr renders are the ones the RTO benchmark chose (bench/variants.py)."""

from __future__ import annotations

import yaml

from bench.variants import DEFAULT_VARIANT, VARIANTS
from components.borgmatic import plan as borgmatic_files
from components.config.stack import parse_stack_config
from tests.support.stacks import BASE


def test_rendered_borgmatic_config_uses_the_benchmarked_defaults() -> None:
    chosen = VARIANTS[DEFAULT_VARIANT]
    cfg = parse_stack_config({k.split(":", 1)[1]: v for k, v in BASE.items()}).backup
    doc = yaml.safe_load(borgmatic_files.borgmatic_config(cfg))
    assert doc["compression"] == chosen.borg_compression
    for db in doc["postgresql_databases"]:
        assert db["format"] == chosen.dump_format
        assert str(db.get("compression")) == str(chosen.dump_compression)
        assert db.get("options") == chosen.dump_options
        assert db.get("restore_options") == chosen.restore_options
