"""The canonical HuJSON layout the Tailscale API stores, for generated text and for checking a base file.

Tailscale stores the policy it is sent but formats it (``hujson.Format``, the ``go fmt`` of HuJSON): tab
indentation, one entry per line in a multi-line object or array, a trailing comma after its last entry,
none in a one-line object or array (written ``[a, b]``, ``{"k": v}``, which may hold multi-line entries:
``[{`` ... ``}]`` keeps the object at the array's depth), object values of consecutive
one-line members aligned to one column, at most one blank line, no trailing blanks, LF line endings
and one final newline. A policy sent in another layout comes back reformatted, so every preview shows
the whole file as changed. :func:`dumps` writes values in that layout; :func:`layout_problems` lists
where a text departs from it (offline; string escapes and comment reflowing are not checked).
"""

from __future__ import annotations

import json
import re
from typing import Any

from components.hujson.document import Document, Node

LINE_LIMIT = 80  # hujson.Format expands an object or array whose one-line form is longer than this


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return json.dumps(value)


def _width(value: Any) -> int:
    """How wide ``hujson.Format`` counts ``value`` on one line: its bytes, plus 2 for the ``, `` it counts
    after every entry of an object or array (so nested one-line composites count wider than they are)."""
    if isinstance(value, dict):
        return 2 + sum(len(json.dumps(k).encode()) + 2 + _width(v) + 2 for k, v in value.items())
    if isinstance(value, list):
        return 2 + sum(_width(v) + 2 for v in value)
    return len(json.dumps(value).encode())


def dumps(value: Any, depth: int = 0, expand: bool = True) -> str:
    """``value`` in canonical layout, as if its first line were indented ``depth`` tabs.

    ``expand`` writes the outer object or array one entry per line; nested ones stay on one line
    while they fit, like ``hujson.Format`` keeps them.
    """
    if not isinstance(value, (dict, list)) or not value:
        return _inline(value)
    if not expand and _width(value) <= LINE_LIMIT:
        return _inline(value)
    pad = "\t" * (depth + 1)
    if isinstance(value, list):
        body = "".join(f"{pad}{dumps(v, depth + 1, expand=False)},\n" for v in value)
        return "[\n" + body + "\t" * depth + "]"
    rendered = [(json.dumps(k), dumps(v, depth + 1, expand=False)) for k, v in value.items()]
    lines, run = [], []

    def flush() -> None:
        width = max((len(k) for k, _ in run), default=0)
        lines.extend(f"{pad}{k}:{' ' * (width - len(k) + 1)}{v},\n" for k, v in run)
        run.clear()

    for key, text in rendered:
        if "\n" in text:  # a multi-line value ends an alignment run and is not aligned itself
            flush()
            lines.append(f"{pad}{key}: {text},\n")
        else:
            run.append((key, text))
    flush()
    return "{\n" + "".join(lines) + "\t" * depth + "}"


def _printable(line: str) -> str:
    """``line`` with control characters escaped (``\\x0a``), so it cannot end or break out of a comment."""
    return "".join(ch if ch >= " " and ch != "\x7f" else f"\\x{ord(ch):02x}" for ch in line)


def comment_lines(lines: list[str], depth: int) -> str:
    """``//`` comment lines at ``depth`` tabs (a control character in a line is escaped, never written)."""
    return "".join(f"{chr(9) * depth}// {_printable(line)}".rstrip(" ") + "\n" for line in lines)


# ------------------------------------------------------------------------------------------- checking
def layout_problems(doc: Document, limit: int = 20) -> list[str]:
    """Where ``doc`` departs from the canonical layout, as ``line N: problem`` (at most ``limit``)."""
    text, problems = doc.text, []

    def add(offset: int, message: str) -> None:
        problems.append(f"line {doc.line_col(offset)[0]}: {message}")

    if "\r\n" in text:
        add(text.index("\r\n"), "CRLF line ending (the API stores LF)")
    lone_cr = re.search("\r(?!\n)", text)
    if lone_cr:
        add(lone_cr.start(), "carriage return inside a line (the API replaces it with a space)")
    for match in re.finditer(r"[ \t]+(?=\n|$)", text):
        add(match.start(), "trailing whitespace")
    for match in re.finditer(r"\n[ \t]*\n[ \t]*\n", text):
        add(match.start() + 1, "more than one blank line")
    if not text.endswith("\n") or text.endswith("\n\n"):
        add(len(text.rstrip("\n")), "the file must end with exactly one newline")
    if text[: doc.root.start].strip() == "" and doc.root.start:
        add(0, "blank space before the top-level value")
    _check_comments(doc, 0, 0, doc.root.start, add)
    _check(doc, doc.root, 0, add, _expansions(doc))
    return problems[:limit]


def _gap_has_comment(gap: str) -> bool:
    return "//" in gap or "/*" in gap


def _check_comments(doc: Document, depth: int, start: int, end: int, add: Any) -> None:
    """Comment lines (comments first on their line) between ``start`` and ``end`` must be at ``depth`` tabs."""
    for match in re.finditer(r"(?m)^([ \t]*)(//|/\*)", doc.text[start:end]):
        at = start + match.start()
        if (at == 0 or doc.text[at - 1] == "\n") and match.group(1) != "\t" * depth:
            add(start + match.start(2), f"comment not indented with {depth} tab(s)")


def _after(node: Node) -> int:
    """Offset just after an entry and its comma."""
    return node.comma + 1 if node.comma is not None else node.end


def _entry_starts(node: Node) -> list[int]:
    return [key[1] for key in node.keys] if node.kind == "object" else [item.start for item in node.items]


def _gaps(doc: Document, node: Node) -> tuple[list[str], str]:
    """Text before each entry (after the previous comma) and before the closing bracket."""
    starts, ends = _entry_starts(node), [node.start + 1] + [_after(item) for item in node.items]
    return [doc.text[ends[i] : starts[i]] for i in range(len(starts))], doc.text[ends[-1] : node.close]


def _extra_lengths(extra: str) -> tuple[int, int, bool]:
    """hujson.Format's line statistics of whitespace and comments: (first line, last line, multi-line)."""

    def length(part: bytes) -> int:  # about the length the comments take on the line
        n = 0
        while True:
            part = part.lstrip(b" \t\r\n")
            if part.startswith(b"//"):
                return n + 1 + len(part)
            if not part.startswith(b"/*"):
                return n + 1 if n else n
            close = part.find(b"*/", 2)
            if close < 0:
                return n + 1 + len(part)
            n, part = n + 1 + close + 2, part[close + 2 :]

    raw = extra.encode()
    if b"\n" not in raw:
        return length(raw), length(raw), False
    return length(raw[: raw.index(b"\n")]), length(raw[raw.rindex(b"\n") + 1 :]), True


def _expansions(doc: Document) -> dict[int, tuple[bool, bool]]:
    """Per object or array (by ``id``): (written one entry per line, too long for one line).

    This is ``hujson.Format``'s decision: a composite is expanded when the whitespace before an entry,
    after the last entry or before the closing bracket holds a newline, or when one of its lines would
    be longer than :data:`LINE_LIMIT` (counted from its opening bracket; an expanded child breaks the
    line). A composite written on one line may hold expanded children: ``[{`` ... ``}]`` stays as it is.
    """
    text, shapes = doc.text, {}

    def stats(node: Node) -> tuple[int, int, bool]:
        if node.kind not in ("object", "array"):
            width = len(text[node.start : node.end].encode())
            return width, width, False
        gaps, tail = _gaps(doc, node)
        line, lines = 1, []

        def add(part: tuple[int, int, bool]) -> None:
            nonlocal line
            line += part[0]
            if part[2]:
                lines.append(line)
                line = part[1]

        for i, item in enumerate(node.items):
            add(_extra_lengths(gaps[i]))
            if node.kind == "object":
                _, key_start, key_end = node.keys[i]
                add((len(text[key_start:key_end].encode()),) * 2 + (False,))
                colon = text.index(":", key_end)
                add(_extra_lengths(_comments_only(text[key_end:colon])))
                line += 2
                add(_extra_lengths(text[colon + 1 : item.start]))
            add(stats(item))
            if item.comma is not None:
                add(_extra_lengths(_comments_only(text[item.end : item.comma])))
            line += 2
        lines.append(line + 1)
        last = node.items[-1] if node.items else None
        after_last = _comments_only(text[last.end : last.comma]) if last and last.comma is not None else ""
        if not node.items:
            tail = _comments_only(tail)
        newline = any("\n" in gap for gap in [*gaps, tail, after_last])
        too_long = any(width > LINE_LIMIT for width in lines)
        shapes[id(node)] = (newline, too_long and not newline)
        if newline or too_long:
            return 1 + _extra_lengths(gaps[0] if gaps else tail)[0], 1, True
        return lines[0], lines[-1], len(lines) > 1

    stats(doc.root)
    return shapes


def _comments_only(extra: str) -> str:
    """Whitespace that ``hujson.Format`` drops (between a name and ':', a value and ','), or the comments."""
    return extra if _gap_has_comment(extra) else ""


def _check(doc: Document, node: Node, depth: int, add: Any, shapes: dict[int, tuple[bool, bool]]) -> None:
    if node.kind not in ("object", "array"):
        return
    text = doc.text
    gaps, tail = _gaps(doc, node)
    if not node.items:
        if tail and not _gap_has_comment(tail):
            add(node.start, "empty object or array must be written {} or []")
        return
    expanded, too_long = shapes[id(node)]
    starts = _entry_starts(node)
    aligned = _alignments(doc, node, gaps) if node.kind == "object" and expanded else []
    for i, item in enumerate(node.items):
        gap = gaps[i]
        if expanded:
            own = gap.rfind("\n")
            if own < 0:
                add(starts[i], "in a multi-line object or array every entry starts its own line")
            elif gap[own + 1 :] != "\t" * (depth + 1):
                add(starts[i], f"entry not indented with {depth + 1} tab(s)")
            _check_comments(doc, depth + 1, starts[i] - len(gap), starts[i], add)
            if item.comma is None:
                add(item.end, "missing trailing comma after the last entry of a multi-line object or array")
        elif gap != ("" if i == 0 else " ") and not _gap_has_comment(gap):
            add(starts[i], "one-line entries are separated by ', ' with no space inside brackets")
        before_comma = text[item.end : item.comma] if item.comma is not None else ""
        if before_comma and not _gap_has_comment(before_comma):
            add(item.end, "space before comma")
        if node.kind == "object":
            _check_member(doc, node, i, aligned[i] if expanded else " ", add)
        # hujson.Format indents a value one level deeper only inside an expanded object or array: the
        # object of a one-line `[{` ... `}]` stays at the array's depth.
        _check(doc, item, depth + 1 if expanded else depth, add, shapes)
    if expanded:
        own = tail.rfind("\n")
        if own < 0 or tail[own + 1 :] != "\t" * depth:
            add(node.close, f"closing bracket not on its own line indented with {depth} tab(s)")
        _check_comments(doc, depth + 1, node.close - len(tail), node.close, add)
        return
    if node.items[-1].comma is not None:
        add(node.items[-1].comma, "no trailing comma in a one-line object or array")
    if tail and not _gap_has_comment(tail):
        add(node.close - len(tail), "no space before a closing bracket")
    if too_long:
        add(node.start, f"one-line object or array longer than {LINE_LIMIT - 2} characters (the API expands it)")


def _check_member(doc: Document, node: Node, i: int, want: str, add: Any) -> None:
    """The member name and ``:`` of entry ``i``; ``want`` is the gap its value should follow the ``:`` by."""
    text = doc.text
    _, _, key_end = node.keys[i]
    colon = text.index(":", key_end)
    if text[key_end:colon] and not _gap_has_comment(text[key_end:colon]):
        add(key_end, "no space between a member name and its ':'")
    gap = text[colon + 1 : node.items[i].start]
    if not _gap_has_comment(gap) and "\n" not in gap and gap != want:
        what = "aligned with the other one-line members of its block" if want != " " else "one space after ':'"
        add(colon + 1, f"value not {what} (expected {len(want)} space(s))")


def _alignments(doc: Document, node: Node, gaps: list[str]) -> list[str]:
    """Per member of a multi-line object, the spaces after ``:`` that align it with its run of one-line members.

    A run of consecutive one-line members is aligned to its longest name (in UTF-8 bytes, as
    ``hujson.Format`` counts); it ends at a member with a multi-line value (not aligned itself: one
    space) and before a member preceded by a blank line or a comment line. One pass over the members.
    """
    text, count = doc.text, len(node.items)
    widths = [len(text[start:end].encode()) for _, start, end in node.keys]
    want, run = [" "] * count, []

    def flush() -> None:
        width = max((widths[j] for j in run), default=0)
        for j in run:
            want[j] = " " * (width - widths[j] + 1)
        run.clear()

    for i in range(count):
        if text.find("\n", node.keys[i][1], node.items[i].end) >= 0:
            flush()
            continue
        if i == 0 or gaps[i].count("\n") > 1:
            flush()
        run.append(i)
    flush()
    return want
