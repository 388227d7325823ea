"""Key paths, written one way everywhere: ``roles[1].password``, ``grants[0].dst``.

Config errors, tailnet policy problems, the render's secret scan and the promotion diff all name a place
inside nested mappings and lists with the same spelling.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

Part = str | int


def key_path(parts: Iterable[Part]) -> str:
    """``("roles", 1, "password")`` -> ``roles[1].password``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def leaves(value: Any, parts: tuple[Part, ...] = ()) -> Iterator[tuple[tuple[Part, ...], Any]]:
    """Every value that is neither a mapping nor a list, with the parts of its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*parts, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (*parts, i))
    else:
        yield parts, value
