"""The HuJSON parser, the splicer and the canonical layout: examples plus Hypothesis properties."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.hujson.document import (
    Document,
    HujsonError,
    Insert,
    append_entries,
    line_ending,
    loads,
    parse,
    splice,
)
from components.hujson.style import comment_lines, dumps, layout_problems
from components.tailnet.plan import plan_additions

# ------------------------------------------------------------------------------------------- parsing


def test_parses_comments_trailing_commas_and_keeps_offsets() -> None:
    text = '// head\n{\n\t"a": [1, 2,], /* mid */\n\t"b": {"c": null,},\n}\n'
    doc = parse(text)
    assert doc.value() == {"a": [1, 2], "b": {"c": None}}
    a = doc.node_at(("a",))
    assert text[a.start : a.end] == "[1, 2,]"
    assert a.items[-1].comma is not None and text[a.close] == "]"
    assert doc.line_col(doc.node_at(("b", "c")).start) == (4, 13)
    assert doc.locate(("b", "missing", 3)) == "<hujson>:4:7"


def test_strict_json_values() -> None:
    assert loads('{"s": "tab\\t\\u00e9\\ud83d\\ude00", "n": [-0, 1.5e3, 0.25], "t": true, "f": false}') == {
        "s": "tab\té😀",
        "n": [0, 1500.0, 0.25],
        "t": True,
        "f": False,
    }


SYNTAX_ERRORS = [
    ('{\n\t"a": 1\n\t"b": 2,\n}', 3, 2, "expected ',' or '}' after member, found '\"'"),
    ('{\n\t"a": "oops,\n}', 2, 13, "unterminated string (a string cannot span lines)"),
    ("{\n\t'a': 1,\n}", 2, 2, "expected a member name or '}', found \"'\""),
    ("{\n\ta: 1,\n}", 2, 2, "expected a member name or '}', found 'a' (member names must be in double quotes)"),
    ('{\n\t"a": [1, 2,,],\n}', 2, 13, "expected a value, found ',' (two commas in a row?)"),
    ('{\n\t"a": 1,\n} extra', 3, 3, "unexpected 'extra' after the top-level value"),
    ('{\n\t/* open\n\t"a": 1,\n}', 2, 2, "unterminated block comment (missing */)"),
    ('{\n\t"a": 1,\n\t"a": 2,\n}', 3, 2, 'duplicate member name "a" (first at <hujson>:2:2)'),
    ('{\n\t"a": [1, 2\n}', 3, 1, "expected ',' or ']' after element, found '}'"),
    ('{\n\t"a": 01,\n}', 2, 7, "invalid number: leading zeros are not allowed"),
    ('{\n\t"a": yes,\n}', 2, 7, "unquoted word 'yes': strings must be in double quotes"),
    ('{\n\t"a": "\\x",\n}', 2, 8, "invalid escape '\\x' in string"),
    ('{\n\t"a": [\n', 3, 1, "unexpected end of file: array opened at <hujson>:2:7 is not closed with ']'"),
    ("", 1, 1, "empty document: expected a value"),
    ("{} / x", 1, 4, "unexpected '/': comments start with // or /*"),
    ("{}\n// no final newline", 2, 1, "line comment at the end of the file without a final newline"),
]


@pytest.mark.parametrize(("text", "line", "col", "message"), SYNTAX_ERRORS)
def test_syntax_errors_name_line_and_column(text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(HujsonError) as info:
        parse(text)
    assert (info.value.line, info.value.col, info.value.message) == (line, col, message)
    assert str(info.value) == f"<hujson>:{line}:{col}: {message}"


def test_only_lf_ends_a_line_comment() -> None:
    text = '{\n\t"grants": [\n\t\t// off:\r\t\t{"src": ["*"]},\r\n\t\t2,\r\n\t],\n}\n'
    assert loads(text) == {"grants": [2]}  # a lone CR does not end the comment; CRLF does
    doc = parse(text)
    assert doc.line_col(doc.node_at(("grants", 0)).start) == (4, 3)  # lines are counted at LF


# ------------------------------------------------------------------------------------------- layout


def test_dumps_writes_the_canonical_layout() -> None:
    grant = {"src": ["tag:homelab"], "dst": ["tag:k8s"], "ip": ["tcp:5432"]}
    assert (
        dumps(grant, 2)
        == '{\n\t\t\t"src": ["tag:homelab"],\n\t\t\t"dst": ["tag:k8s"],\n\t\t\t"ip":  ["tcp:5432"],\n\t\t}'
    )
    long = {"k": ["x" * 40, "y" * 40], "longer": {}}
    assert dumps(long) == '{\n\t"k": [\n\t\t"' + "x" * 40 + '",\n\t\t"' + "y" * 40 + '",\n\t],\n\t"longer": {},\n}'


def test_layout_problems_find_what_the_api_would_reformat() -> None:
    spaces = '{\n  "a": [1, 2],\n  "bb": {"c": 1,},\n  "d":  [\n\t\t3\n\t],\n}  \n\n'
    assert layout_problems(parse(spaces)) == [
        "line 7: trailing whitespace",
        "line 7: the file must end with exactly one newline",
        "line 2: entry not indented with 1 tab(s)",
        "line 2: value not aligned with the other one-line members of its block (expected 2 space(s))",
        "line 3: entry not indented with 1 tab(s)",
        "line 3: no trailing comma in a one-line object or array",
        "line 4: entry not indented with 1 tab(s)",
        "line 4: value not one space after ':' (expected 1 space(s))",
        "line 5: missing trailing comma after the last entry of a multi-line object or array",
    ]
    assert layout_problems(parse('{\r\n\t"a": 1,\r\n}\n'))[0] == "line 1: CRLF line ending (the API stores LF)"
    assert layout_problems(parse('{\n\t// a\rb\n\t"a": 1,\n}\n')) == [
        "line 2: carriage return inside a line (the API replaces it with a space)"
    ]


def test_generated_comment_lines_cannot_break_out_of_the_comment() -> None:
    assert comment_lines(["db x\n}, {\r"], 1) == "\t// db x\\x0a}, {\\x0d\n"


def test_alignment_runs_end_at_blank_lines_comments_and_multi_line_values() -> None:
    text = (
        '{\n\t"a":   1,\n\t"bbb": 2,\n\n\t"cc": 3,\n\t// note\n\t"d": 4,\n'
        '\t"e": [\n\t\t1,\n\t],\n\t"f":    5,\n\t"gggg": 6,\n\t"é":   7,\n}\n'
    )
    assert layout_problems(parse(text)) == []  # é is 2 bytes, aligned like hujson.Format counts
    assert layout_problems(parse(text.replace('"a":   1', '"a": 1').replace('"f":    5', '"f": 5'))) == [
        "line 2: value not aligned with the other one-line members of its block (expected 3 space(s))",
        "line 11: value not aligned with the other one-line members of its block (expected 4 space(s))",
    ]


def test_the_layout_check_is_linear_in_the_size_of_the_policy() -> None:
    """8,000 tagOwners entries took 54 s when every member rescanned its alignment run."""
    count = 8000
    width = len(f'"tag:t{count - 1}"')
    members = "".join(f'\t\t"tag:t{i}":{" " * (width - len(f"tag:t{i}") - 1)}["group:admins"],\n' for i in range(count))
    doc = parse('{\n\t"tagOwners": {\n' + members + "\t},\n}\n")
    started = time.perf_counter()
    assert layout_problems(doc) == []
    misaligned = parse('{\n\t"tagOwners": {\n' + members.replace(":  ", ": ") + "\t},\n}\n")
    assert len(layout_problems(misaligned)) == 20
    assert time.perf_counter() - started < 2.0


KEPT_BY_FORMAT = {
    "one-line array of one expanded object": (
        '{\n\t"grants": [{\n\t\t"src": ["tag:a"],\n\t\t"dst": ["tag:b"],\n\t\t"ip":  ["tcp:22"],\n\t}],\n}\n'
    ),
    "one-line array of two expanded objects": (
        '{\n\t"acls": [{\n\t\t"action": "accept",\n\t\t"src":    ["tag:a"],\n'
        '\t\t"dst":    ["tag:b:22"],\n\t}, {\n\t\t"action": "accept",\n\t\t"src":    ["tag:b"],\n'
        '\t\t"dst":    ["tag:a:22", "tag:c:22", "tag:d:22", "tag:e:22", "tag:f:22"],\n\t}],\n}\n'
    ),
    "one-line object holding an expanded array": '{"tests": [\n\t{"src": "tag:a", "accept": ["tag:b:22"]},\n]}\n',
}


@pytest.mark.parametrize("text", KEPT_BY_FORMAT.values(), ids=list(KEPT_BY_FORMAT))
def test_what_hujson_format_keeps_is_not_a_layout_problem(text: str) -> None:
    """``[{`` ... ``}]``: the array has no newline of its own, so hujson.Format keeps it on its line and the
    object at the array's depth; only its lines are measured against the 80 columns, not the whole text."""
    assert layout_problems(parse(text)) == []


def test_a_one_line_array_of_an_expanded_object_still_needs_the_right_depth() -> None:
    text = '{\n\t"grants": [{\n\t\t\t"src": ["tag:a"],\n\t\t}],\n}\n'
    assert layout_problems(parse(text)) == [
        "line 3: entry not indented with 2 tab(s)",
        "line 4: closing bracket not on its own line indented with 1 tab(s)",
    ]
    long_line = '{\n\t"a": [{\n\t\t"b": 1,\n\t}, ' + ", ".join(['"xxxxxxxx"'] * 8) + "],\n}\n"
    assert layout_problems(parse(long_line)) == [
        "line 2: one-line object or array longer than 78 characters (the API expands it)"
    ]


def test_nested_one_line_values_are_measured_as_hujson_format_measures_them() -> None:
    """Format counts ", " after every entry, nested ones too: [[1], [1], ...] of 12 is 60 characters but 86 wide."""
    value = {"k": [[1]] * 12}
    one_line = '{\n\t"k": ' + "[" + ", ".join(["[1]"] * 12) + "],\n}\n"
    assert len(one_line.splitlines()[1]) < 78
    assert layout_problems(parse(one_line)) == [
        "line 2: one-line object or array longer than 78 characters (the API expands it)"
    ]
    assert dumps(value) == '{\n\t"k": [\n' + "\t\t[1],\n" * 12 + "\t],\n}"
    assert layout_problems(parse(dumps(value) + "\n")) == []


def test_the_project_base_policy_is_canonical() -> None:
    from components.project import PROJECT_DIR

    assert layout_problems(parse((PROJECT_DIR / "policy/tailnet.hujson").read_text())) == []


# ------------------------------------------------------------------------------------------ splicing


def test_splice_keeps_every_byte_between_insertions() -> None:
    assert splice("abcdef", [Insert(4, "X"), Insert(0, "<"), Insert(6, ">")]) == "<abcdXef>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\r\nc\r\n", "\r\n"),
        ("a\r\nb\nc\n", "\n"),
        ("a\r\nb\n", "\n"),
        ("a\rb\rc\n", "\n"),
        ("{}", "\n"),
    ],
)
def test_line_ending_is_the_one_most_lines_use(text: str, expected: str) -> None:
    assert line_ending(text) == expected


def test_append_entries_in_a_crlf_file_writes_crlf_lines() -> None:
    text = '{\r\n\t"g": [\r\n\t\t1,\r\n\t],\r\n}\r\n'
    out = splice(text, append_entries(text, parse(text).node_at(("g",)), "\t\t// new\n\t\t2,\n", depth=1))
    assert out == '{\r\n\t"g": [\r\n\t\t1,\r\n\r\n\t\t// new\r\n\t\t2,\r\n\t],\r\n}\r\n'
    one_line = '{"g": [1]}\r\n'
    out = splice(one_line, append_entries(one_line, parse(one_line).node_at(("g",)), "\t\t2,\n", depth=1))
    assert out == '{"g": [1,\r\n\t\t2,\r\n\t]}\r\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\n\t"g": [\n\t\t1,\n\t],\n}\n', '{\n\t"g": [\n\t\t1,\n\n\t\t// new\n\t\t2,\n\t],\n}\n'),
        ('{\n\t"g": [\n\t\t1\n\t],\n}\n', '{\n\t"g": [\n\t\t1,\n\n\t\t// new\n\t\t2,\n\t],\n}\n'),
        ('{\n\t"g": [],\n}\n', '{\n\t"g": [\n\t\t// new\n\t\t2,\n\t],\n}\n'),
        ('{"g": [1]}', '{"g": [1,\n\t\t// new\n\t\t2,\n\t]}'),
    ],
    ids=["canonical", "no-trailing-comma", "empty", "one-line"],
)
def test_append_entries_layouts(text: str, expected: str) -> None:
    doc = parse(text)
    assert splice(text, append_entries(text, doc.node_at(("g",)), "\t\t// new\n\t\t2,\n", depth=1)) == expected
    assert loads(expected) == {"g": [1, 2]} if "1" in text else {"g": [2]}


# -------------------------------------------------------------------------------------- properties
COMMENT = st.text(alphabet="abc XYZ-/:*", max_size=12).filter(lambda s: "*/" not in s)
KEY = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
VALUE = st.recursive(SCALAR, lambda c: st.lists(c, max_size=4) | st.dictionaries(KEY, c, max_size=4), max_leaves=12)


class Writer:
    """Writes a value as HuJSON with random comments, blanks and trailing commas; records the comments."""

    def __init__(self, draw: Any):
        self.draw, self.comments = draw, []

    def extra(self) -> str:
        out = ""
        for _ in range(self.draw(st.integers(0, 2))):
            kind = self.draw(st.sampled_from(["space", "line", "block"]))
            if kind == "space":
                out += self.draw(st.sampled_from([" ", "\n", "\t", "\n\t\t", "\n\n"]))
            else:
                body = f"c{len(self.comments)} {self.draw(COMMENT)}"
                comment = f"// {body}\n" if kind == "line" else f"/* {body} */"
                self.comments.append(comment.strip("\n"))
                out += comment
        return out

    def write(self, value: Any) -> str:
        if isinstance(value, dict):
            parts = [json.dumps(k) + self.extra() + ":" + self.extra() + self.write(v) for k, v in value.items()]
            return "{" + self.extra() + self.join(parts) + "}"
        if isinstance(value, list):
            return "[" + self.extra() + self.join([self.write(v) for v in value]) + "]"
        return json.dumps(value)

    def join(self, parts: list[str]) -> str:
        out = ""
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            comma = "," if not last or self.draw(st.booleans()) else ""
            out += part + self.extra() + comma + self.extra()
        return out


@st.composite
def hujson_documents(draw: Any, values: st.SearchStrategy = VALUE) -> tuple[str, Any, list[str]]:
    writer = Writer(draw)
    value = draw(values)
    text = writer.extra() + writer.write(value) + writer.extra()
    return text, value, writer.comments


@given(hujson_documents())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_property_parser_reads_what_was_written(doc: tuple[str, Any, list[str]]) -> None:
    text, value, _ = doc
    assert loads(text) == value


POLICY_ENTRY = st.dictionaries(st.sampled_from(["src", "dst", "ip", "note"]), VALUE, max_size=3)
POLICIES = st.fixed_dictionaries(
    {},
    optional={
        "grants": st.lists(POLICY_ENTRY, max_size=3),
        "tests": st.lists(POLICY_ENTRY, max_size=3),
        "groups": st.dictionaries(KEY, VALUE, max_size=2),
        "tagOwners": st.dictionaries(KEY, VALUE, max_size=2),
    },
)
GENERATED = {
    "grants": [
        (
            ["Generated by pg-dr", "  pg-dr:backup.databases[1]"],
            {"src": ["tag:a"], "dst": ["tag:b"], "ip": ["tcp:5432"]},
        )
    ],
    "tests": [(["Generated by pg-dr"], {"src": "tag:a", "accept": ["tag:b:5432"]})],
}


def _generated_only(insert: Insert) -> bool:
    """An insertion holds nothing but generated comments and entries (and the brackets of a new member)."""
    rest = insert.text
    for entries in GENERATED.values():
        for lines, value in entries:
            rest = rest.replace(dumps(value, 2), "")
            for line in lines:
                rest = rest.replace(f"// {line}", "")
    for key in ("grants", "tests"):
        rest = rest.replace(f'// "{key}" added by pg-dr for the backup targets.', "").replace(f'"{key}": [', "")
    return set(rest) <= set("\t\n,]")


@given(hujson_documents(POLICIES))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_property_splicer_keeps_the_base(doc: tuple[str, Any, list[str]]) -> None:
    text, value, comments = doc
    base = Document(text)
    inserts = plan_additions(base, GENERATED)
    output = splice(text, inserts)
    expected = json.loads(json.dumps(value))
    expected.setdefault("grants", []).append(GENERATED["grants"][0][1])
    expected.setdefault("tests", []).append(GENERATED["tests"][0][1])
    assert loads(output) == expected  # the output parses; base entries unchanged, the new ones last
    for comment in comments:  # every comment kept
        assert output.count(comment) == text.count(comment) >= 1
    assert output.count("Generated by pg-dr") == 2
    # Outside the insertions the output is the base text; the insertions hold only generated material,
    # and the only other byte is a comma after a last entry that had none.
    last_entries = [base.node_at((k,)) for k in ("grants", "tests")] + [base.root]
    missing_commas = {c.items[-1].end for c in last_entries if c is not None and c.items and c.items[-1].comma is None}
    for insert in inserts:
        assert _generated_only(insert) if insert.text != "," else insert.offset in missing_commas


@given(VALUE)
@settings(max_examples=150)
def test_property_dumps_is_canonical_and_round_trips(value: Any) -> None:
    text = dumps(value) + "\n"
    assert loads(text) == json.loads(json.dumps(value))
    assert layout_problems(parse(text)) == []


def _without_inserts(output: str, inserts: list[Insert]) -> str:
    """``output`` with the inserted texts taken out again (insertions at one offset keep their order)."""
    out, shift = output, 0
    for ins in sorted(inserts, key=lambda i: i.offset):
        at = ins.offset + shift
        assert out[at : at + len(ins.text)] == ins.text
        out = out[:at] + out[at + len(ins.text) :]
    return out


@st.composite
def mixed_line_endings(draw: Any) -> tuple[str, Any]:
    """A policy document whose line breaks are a random mix of LF and CRLF."""
    text, value, _ = draw(hujson_documents(POLICIES))
    parts = text.split("\n")
    crlf = draw(st.lists(st.booleans(), min_size=len(parts) - 1, max_size=len(parts) - 1))
    return "".join(part + ("\r\n" if cr else "\n") for part, cr in zip(parts, crlf, strict=False)) + parts[-1], value


@given(mixed_line_endings())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_property_splicing_keeps_every_byte_of_a_mixed_lf_crlf_base(doc: tuple[str, Any]) -> None:
    text, value = doc
    inserts = plan_additions(Document(text), GENERATED)
    output = splice(text, inserts)
    assert _without_inserts(output, inserts) == text  # every original byte, in order, outside the insertions
    eol = line_ending(text)
    for insert in inserts:  # the new lines end the way most of the file's lines do, and nothing else has a CR
        assert insert.text.replace(eol, "").count("\n") == 0 and insert.text.replace(eol, "").count("\r") == 0
    expected = json.loads(json.dumps(value))
    expected.setdefault("grants", []).append(GENERATED["grants"][0][1])
    expected.setdefault("tests", []).append(GENERATED["tests"][0][1])
    assert loads(output) == expected
