"""Output conventions every component follows, named once.

A component publishes the files a reviewer should read under the output ``renderFiles`` (relative path
-> text, never a secret); ``pg-dr render`` writes them below its output directory. Files delivered to a
host go under ``hosts/<host>/``.
"""

from __future__ import annotations

RENDER_FILES = "renderFiles"


def host_file(host: str, name: str) -> str:
    """The review path of a file delivered to ``host``."""
    return f"hosts/{host}/{name}"
