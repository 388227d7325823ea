"""HuJSON (JSON with comments and trailing commas): a parser that keeps byte offsets, and a splicer.

HuJSON is what the Tailscale policy file is written in: standard JSON plus ``//`` line comments,
``/* */`` block comments and a trailing comma after the last member or element. This parser is
strict JSON otherwise (double-quoted strings and names, JSON numbers, ``true``/``false``/``null``) and
rejects duplicate member names, which a JSON decoder would silently collapse.

Every :class:`Node` knows where it starts and ends in the text, so a caller can report a problem at
``line:col`` and insert text next to a value without rewriting anything else (:func:`splice`). Lines
and columns are 1-based; a column counts characters (a tab is one column).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_WS = " \t\n\r"
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_ESCAPES = set('"\\/bfnrtu')
MAX_DEPTH = 200

Path = tuple[str | int, ...]


class HujsonError(ValueError):
    """A syntax error at a position of the text.

    ``message`` may quote the text (a word, a character, a member name); ``kind`` never does: what a
    caller shows when the file may not be a policy at all (a password file named by mistake).
    """

    def __init__(self, message: str, offset: int, line: int, col: int, source: str = "<hujson>", kind: str = ""):
        self.message, self.offset, self.line, self.col, self.source = message, offset, line, col, source
        self.kind = kind or message
        super().__init__(f"{source}:{line}:{col}: {message}")

    @property
    def without_content(self) -> str:
        """``source:line:col: kind``: the position and kind of the error, no text of the file."""
        return f"{self.source}:{self.line}:{self.col}: {self.kind}"


@dataclass(eq=False)
class Node:
    """One value: ``kind`` is object, array, string, number, true, false or null.

    ``start``/``end`` delimit the value's text; ``comma`` is the offset of the comma that follows it
    inside its container (``None`` if there is none); composites also know their closing bracket.
    """

    kind: str
    start: int
    end: int = -1
    value: Any = None
    items: list[Node] = field(default_factory=list)
    keys: list[tuple[str, int, int]] = field(default_factory=list)  # (name, start, end) per member
    comma: int | None = None

    @property
    def close(self) -> int:
        """Offset of the closing bracket of a composite."""
        return self.end - 1

    def member(self, name: str) -> Node | None:
        for (key, _, _), item in zip(self.keys, self.items, strict=True):
            if key == name:
                return item
        return None


class Document:
    """Parsed HuJSON text: the root :class:`Node` plus offset -> line:col mapping."""

    def __init__(self, text: str, source: str = "<hujson>"):
        self.text, self.source = text, source
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.root = _Parser(self).parse()

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def where(self, offset: int) -> str:
        line, col = self.line_col(offset)
        return f"{self.source}:{line}:{col}"

    def error(self, message: str, offset: int, kind: str = "") -> HujsonError:
        return HujsonError(message, offset, *self.line_col(offset), source=self.source, kind=kind)

    def value(self) -> Any:
        return to_python(self.root)

    def node_at(self, path: Path) -> Node | None:
        node: Node | None = self.root
        for part in path:
            if node is None:
                return None
            if isinstance(part, int):
                node = node.items[part] if node.kind == "array" and 0 <= part < len(node.items) else None
            else:
                node = node.member(part) if node.kind == "object" else None
        return node

    def locate(self, path: Path) -> str:
        """``source:line:col`` of the deepest existing value on ``path``."""
        for cut in range(len(path), -1, -1):
            node = self.node_at(path[:cut])
            if node is not None:
                return self.where(node.start)
        return self.where(0)  # pragma: no cover - the root always exists


class _Parser:
    def __init__(self, doc: Document):
        self.doc, self.text, self.pos = doc, doc.text, 0

    def fail(self, message: str, offset: int | None = None, kind: str = "") -> HujsonError:
        """``kind``: the message without any text of the file, where ``message`` quotes some."""
        return self.doc.error(message, self.pos if offset is None else offset, kind)

    def parse(self) -> Node:
        if self.text.startswith("\ufeff"):
            raise self.fail("byte order mark (U+FEFF) at the start: save the file as UTF-8 without BOM")
        self.skip()
        if self.pos >= len(self.text):
            raise self.fail("empty document: expected a value")
        root = self.value(0)
        self.skip()
        if self.pos < len(self.text):
            raise self.fail(
                f"unexpected {self.describe()} after the top-level value",
                kind="unexpected text after the top-level value",
            )
        return root

    def describe(self) -> str:
        if self.pos >= len(self.text):
            return "end of file"
        word = _WORD.match(self.text, self.pos)
        if word:
            return f"'{word.group()}'"
        return repr(self.text[self.pos])

    def skip(self) -> None:
        """Skip whitespace and comments."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in _WS:
                self.pos += 1
            elif text.startswith("//", self.pos):
                # Only LF ends a line comment (a lone CR does not), as in Tailscale's parser, which also
                # rejects a line comment that reaches the end of the file without one.
                newline = text.find("\n", self.pos)
                if newline < 0:
                    raise self.fail("line comment at the end of the file without a final newline")
                self.pos = newline + 1
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise self.fail("unterminated block comment (missing */)")
                self.pos = close + 2
            elif ch == "/":
                raise self.fail("unexpected '/': comments start with // or /*")
            else:
                return

    def value(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels")
        text, start = self.text, self.pos
        ch = text[start] if start < len(text) else ""
        if ch == "{":
            return self.composite("object", "}", depth)
        if ch == "[":
            return self.composite("array", "]", depth)
        if ch == '"':
            value = self.string()
            return Node("string", start, self.pos, value)
        if ch == "-" or ch.isdigit():
            return self.number()
        for word, literal in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, start) and not _continues_word(text, start + len(word)):
                self.pos += len(word)
                return Node(word, start, self.pos, literal)
        if ch == "'":
            raise self.fail("strings must be in double quotes, not single quotes")
        if ch in "}]":
            raise self.fail(f"expected a value, found {ch!r}", kind="expected a value")
        if ch == ",":
            raise self.fail("expected a value, found ',' (two commas in a row?)")
        if not ch:
            raise self.fail("unexpected end of file: expected a value")
        word = _WORD.match(text, start)
        if word:
            raise self.fail(
                f"unquoted word '{word.group()}': strings must be in double quotes",
                kind="an unquoted word: strings must be in double quotes",
            )
        raise self.fail(f"unexpected {self.describe()}: expected a value", kind="expected a value")

    def string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if match:
            self.pos = match.end()
            return json.loads(match.group())
        pos = self.pos + 1  # locate the problem for a precise message
        while pos < len(self.text):
            ch = self.text[pos]
            if ch == '"':  # pragma: no cover - the regex would have matched
                break
            if ch == "\n":
                raise self.fail("unterminated string (a string cannot span lines)", pos)
            if ord(ch) < 0x20:
                raise self.fail(
                    f"control character U+{ord(ch):04X} in string: escape it", pos, "control character in string"
                )
            if ch == "\\":
                esc = self.text[pos + 1 : pos + 2]
                if esc not in _ESCAPES or not esc:
                    raise self.fail(f"invalid escape '\\{esc}' in string", pos, "invalid escape in string")
                if esc == "u" and not re.fullmatch(r"[0-9a-fA-F]{4}", self.text[pos + 2 : pos + 6]):
                    raise self.fail("invalid \\u escape: expected 4 hex digits", pos)
                pos += 2
                continue
            pos += 1
        raise self.fail('unterminated string (missing closing ")', self.pos)

    def number(self) -> Node:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        if not match:
            raise self.fail("invalid number")
        end = match.end()
        if end < len(self.text) and (self.text[end].isalnum() or self.text[end] in ".+-"):
            if match.group() in ("0", "-0") and self.text[end].isdigit():
                raise self.fail("invalid number: leading zeros are not allowed", start)
            raise self.fail(f"invalid number {self.text[start : end + 1]!r}", start, "invalid number")
        self.pos = end
        return Node("number", start, end, json.loads(match.group()))

    def composite(self, kind: str, closer: str, depth: int) -> Node:
        node = Node(kind, self.pos)
        self.pos += 1
        seen: dict[str, int] = {}
        what = "member" if kind == "object" else "element"
        while True:
            self.skip()
            if self.text.startswith(closer, self.pos):
                break
            if self.pos >= len(self.text):
                opened = self.doc.where(node.start)
                raise self.fail(f"unexpected end of file: {kind} opened at {opened} is not closed with '{closer}'")
            if kind == "object":
                self.member_name(node, seen)
            node.items.append(self.value(depth + 1))
            self.skip()
            if self.text.startswith(",", self.pos):
                node.items[-1].comma = self.pos
                self.pos += 1
                continue
            if self.text.startswith(closer, self.pos):
                break
            raise self.fail(
                f"expected ',' or '{closer}' after {what}, found {self.describe()}",
                kind=f"expected ',' or '{closer}' after {what}",
            )
        self.pos += 1
        node.end = self.pos
        return node

    def member_name(self, node: Node, seen: dict[str, int]) -> None:
        start = self.pos
        if not self.text.startswith('"', start):
            if self.text.startswith(",", start):
                raise self.fail("expected a member name, found ',' (two commas in a row?)")
            found = self.describe()
            hint = " (member names must be in double quotes)" if _WORD.match(self.text, start) else ""
            raise self.fail(
                f"expected a member name or '}}', found {found}{hint}", kind="expected a member name or '}'"
            )
        name = self.string()
        if name in seen:
            raise self.fail(
                f"duplicate member name {json.dumps(name)} (first at {self.doc.where(seen[name])})",
                start,
                f"duplicate member name (first at {self.doc.where(seen[name])})",
            )
        seen[name] = start
        node.keys.append((name, start, self.pos))
        self.skip()
        if not self.text.startswith(":", self.pos):
            raise self.fail(
                f"expected ':' after member name {json.dumps(name)}, found {self.describe()}",
                kind="expected ':' after a member name",
            )
        self.pos += 1
        self.skip()


def _continues_word(text: str, pos: int) -> bool:
    return pos < len(text) and (text[pos].isalnum() or text[pos] in "_$")


def to_python(node: Node) -> Any:
    if node.kind == "object":
        return {key: to_python(item) for (key, _, _), item in zip(node.keys, node.items, strict=True)}
    if node.kind == "array":
        return [to_python(item) for item in node.items]
    return node.value


def parse(text: str, source: str = "<hujson>") -> Document:
    return Document(text, source)


def loads(text: str) -> Any:
    return Document(text).value()


# ------------------------------------------------------------------------------------------ splicing
@dataclass(frozen=True)
class Insert:
    """Insert ``text`` at ``offset`` of the original text."""

    offset: int
    text: str


def splice(text: str, inserts: Iterable[Insert]) -> str:
    """Apply insertions; the original text is kept byte for byte between them."""
    out, last = [], 0
    for ins in sorted(inserts, key=lambda i: i.offset):
        out += [text[last : ins.offset], ins.text]
        last = ins.offset
    out.append(text[last:])
    return "".join(out)


def line_ending(text: str) -> str:
    """The line ending for new lines: CRLF when most lines of ``text`` end in CRLF, else LF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf > text.count("\n") - crlf else "\n"


def _line_start(text: str, offset: int) -> int | None:
    """Start of the line holding ``offset`` if only blanks precede it on that line, else None."""
    start = text.rfind("\n", 0, offset) + 1
    return start if text[start:offset].strip(" \t") == "" else None


def _previous_line_blank(text: str, line_start: int) -> bool:
    if line_start == 0:
        return True
    prev = text.rfind("\n", 0, line_start - 1) + 1
    return text[prev : line_start - 1].strip() == ""


def append_entries(text: str, container: Node, block: str, depth: int) -> list[Insert]:
    """Insertions that add ``block`` (complete lines, indented for ``depth + 1``) after the last entry.

    ``block`` consists of lines ending in ``\\n``, each entry followed by its comma. When the closing
    bracket starts its own line the block goes right before that line (after any trailing comments),
    so the container's existing text is untouched; a missing comma after the last entry is the only
    byte added elsewhere. New lines end like most lines of ``text`` (:func:`line_ending`): ``block``'s
    ``\\n`` become ``\\r\\n`` in a CRLF file.
    """
    eol = line_ending(text)
    block = block.replace("\n", eol)
    inserts: list[Insert] = []
    if container.items and container.items[-1].comma is None:
        inserts.append(Insert(container.items[-1].end, ","))
    own_line = _line_start(text, container.close)
    if own_line is not None and container.items:
        sep = "" if _previous_line_blank(text, own_line) else eol
        inserts.append(Insert(own_line, sep + block))
    elif own_line is not None:
        inserts.append(Insert(own_line, block))
    else:
        inserts.append(Insert(container.close, eol + block + "\t" * depth))
    return inserts
