"""pg-dr's archive names in a repository other borgmatic configs also write to, proved apart.

A shared repository's ``prune`` deletes whatever its ``match_archives`` matches. So pg-dr accepts an
``archiveNameFormat``/``matchArchives`` pair only when it can prove, from the text alone:

1. every name the format can produce starts with a *literal head* (the text before its first placeholder),
   and that head starts with :data:`PREFIX` (``pg-dr-``), a prefix no other writer uses;
2. ``matchArchives`` is exactly ``sh:<P>*`` where ``<P>`` is literal (no glob character, no placeholder:
   Borg 1.x also expands placeholders in ``--glob-archives``), starts with :data:`PREFIX`, and is a prefix
   of the format's head. Borg's shell ``*`` matches any characters but ``/``, and a name the format
   produces never holds ``/`` (refused literally, and only placeholders and ``strftime`` directives that
   cannot produce one are accepted), so the pattern matches every name the format produces;
3. borgmatic's default format ``{hostname}-{now}`` (the other config's, unless it sets its own) produces
   ``<host>-<digit>...``: the host check (``sh/host-check.sh``) refuses a host whose ``<host>-`` overlaps
   ``<P>`` in either direction, and lists the names already in each repository that ``<P>*`` matches: any
   name the format cannot produce belongs to another writer, and is refused too.

Anything else (``re:``, ``pp:``, ``id:``, other ``sh:`` shapes, unknown placeholders) is refused: it may be
safe, but pg-dr cannot prove it. With ``matchArchives`` unset it is derived from the format.
"""

from __future__ import annotations

import re

PREFIX = "pg-dr-"
# Borg 1.x placeholders whose values hold no '/' (nor a glob character): hostname/fqdn are host names,
# user a login name, the rest digits, dots and dashes.
_PLAIN_PLACEHOLDERS = frozenset(
    {"hostname", "fqdn", "reverse-fqdn", "user", "pid", "uuid4", "borgversion", "borgmajor", "borgminor", "borgpatch"}
)
_TIME_PLACEHOLDERS = frozenset({"now", "utcnow"})
# strftime directives that produce digits (or a sign and digits) only, whatever the locale
_DIRECTIVES = frozenset("YymdHMSfjUWz")
_LITERAL = re.compile(r"[A-Za-z0-9._+@=,:-]")
_TOKEN = re.compile(r"\{([^{}]*)\}|([^{}])|([{}])", re.DOTALL)


def format_problem(fmt: str) -> str | None:
    """Why ``archiveNameFormat`` is refused, or None."""
    if "::" in fmt:
        return "holds '::' (Borg reads what follows as another archive name)"
    head = literal_head(fmt)
    if not head.startswith(PREFIX):
        return f"must start with the literal {PREFIX!r} (pg-dr's archives carry a prefix no other writer uses)"
    for m in _TOKEN.finditer(fmt):
        field, literal, brace = m.groups()
        if brace is not None:
            return f"has an unmatched {brace!r} at position {m.start()}"
        if literal is not None and not _LITERAL.fullmatch(literal):
            return f"holds {literal!r} at position {m.start()}: archive names take letters, digits and ._+@=,:-"
        if field is not None and (problem := _placeholder_problem(field)):
            return f"placeholder {{{field}}}: {problem}"
    if not any(_unique(field) for field, _, _ in _TOKEN.findall(fmt)):
        return (
            "names no second or {uuid4}: Borg 1.x refuses an archive name that exists, so the night after the "
            "verification's backup (or a second run that day) would fail; use {now} or {now:...%S...}"
        )
    return None


def _unique(field: str) -> bool:
    """A placeholder whose value differs from one run to the next (a run's create takes well over a second)."""
    name, _, spec = field.partition(":")
    return field == "uuid4" or (name in _TIME_PLACEHOLDERS and (not spec or "%S" in spec or "%f" in spec))


def _placeholder_problem(field: str) -> str | None:
    name, colon, spec = field.partition(":")
    if name in _PLAIN_PLACEHOLDERS and not colon:
        return None
    if name not in _TIME_PLACEHOLDERS:
        known = ", ".join(sorted(_PLAIN_PLACEHOLDERS | _TIME_PLACEHOLDERS))
        return f"not one pg-dr can prove (known: {known}; only now/utcnow take a format)"
    i = 0
    while i < len(spec):
        c = spec[i]
        if c == "%":
            directive = spec[i + 1 : i + 2]
            if directive not in _DIRECTIVES:
                allowed = " ".join(f"%{d}" for d in sorted(_DIRECTIVES))
                return f"%{directive} may produce '/' or spaces (allowed: {allowed})"
            i += 2
            continue
        if not _LITERAL.fullmatch(c) or c in "{}":
            return f"holds {c!r}: archive names take letters, digits and ._+@=,:-"
        i += 1
    return None


def literal_head(fmt: str) -> str:
    """The text every name the format produces starts with: up to its first placeholder."""
    return fmt.split("{", 1)[0]


def derived_match(fmt: str) -> str:
    """The ``matchArchives`` of a valid format: its literal head, then anything."""
    return f"sh:{literal_head(fmt)}*"


def match_prefix(match: str) -> str | None:
    """``<P>`` of a ``sh:<P>*`` pattern with a literal ``<P>``, else None."""
    if not (match.startswith("sh:") and match.endswith("*")):
        return None
    prefix = match[3:-1]
    if not all(_LITERAL.fullmatch(c) for c in prefix):
        return None
    return prefix


def match_problem(match: str, fmt: str) -> str | None:
    """Why ``matchArchives`` is refused for this (valid) ``archiveNameFormat``, or None."""
    prefix = match_prefix(match)
    if prefix is None or not prefix.startswith(PREFIX):
        return (
            f"{match!r} is not a pattern pg-dr can prove matches only its own archives: use sh:<prefix>* with a "
            f"literal prefix starting {PREFIX!r} (or leave it unset: derived from archiveNameFormat)"
        )
    if not literal_head(fmt).startswith(prefix):
        return (
            f"{match!r} does not match every name archiveNameFormat {fmt!r} produces (its prefix must begin the "
            f"format's literal text {literal_head(fmt)!r}): prune and check would miss pg-dr's archives"
        )
    return None


def name_ere(fmt: str) -> str:
    """A POSIX ERE matching (whole-line) every name a valid format produces: its literals, placeholders as
    runs of characters without '/'."""
    out = ""
    for m in _TOKEN.finditer(fmt):
        field, literal, _ = m.groups()
        out += "[^/]*" if field is not None else f"[{literal}]"
    return "^" + out + "$"
