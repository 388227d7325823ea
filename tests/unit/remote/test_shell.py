"""Scripts are ``.sh`` templates filled in one pass: a value can never be substituted again."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.borgmatic import scripts
from components.borgmatic.plan import Binary
from components.remote.shell import fill, q

PACKAGES = Path(__file__).resolve().parents[3] / "components"


def test_a_value_holding_a_token_is_not_substituted_again() -> None:
    text = "a=@A@\nb=@B@\n"
    assert fill(text, {"A": "@B@", "B": "x"}) == "a=@B@\nb=x\n"


def test_missing_and_extra_values_are_refused() -> None:
    with pytest.raises(ValueError, match="do not match"):
        fill("a=@A@ b=@B@", {"A": "1"})
    with pytest.raises(ValueError, match="do not match"):
        fill("a=@A@", {"A": "1", "B": "2"})


def test_every_template_token_is_filled_in_the_rendered_scripts() -> None:
    """No ``.sh`` template leaves a token behind (every script the components build, rendered)."""
    preflight = scripts.preflight([Binary("borg", "/opt/@CHECKS@/borg", "pg-dr:backup.borgPath")])
    assert "@CHECKS@\n" not in preflight and "check pg-dr:backup.borgPath /opt/@CHECKS@/borg" in preflight
    assert sorted(p.name for p in PACKAGES.glob("*/sh/*.sh"))  # the templates exist where the code looks


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_quoted_values_survive_one_pass(value: str) -> None:
    assert fill("v=@V@\n", {"V": q(value)}) == f"v={q(value)}\n"
