"""``make docs-check``: every figure, file name, config key and example output in the docs, checked.

The README and ``docs/*.md`` are checked against the code, so a count, an output or a key cannot drift:

* ``<!-- docs-check output: COMMAND -->`` before a fenced block: the block is exactly what ``COMMAND``
  prints now (stdout and stderr as printed; the checkout's path shown as ``/home/you/pg-dr``, timings
  normalised); ``<!-- docs-check excerpt: COMMAND -->``: the block's lines appear in the output in order,
  ``...`` standing for any lines. ``COMMAND`` is ``pg-dr ARGS`` (run in-process, ``--out`` in a temporary
  directory) or one of :data:`EXAMPLES`;
* ``docs/configuration.md`` lists exactly the keys the config models accept, one table row each, with the
  model's default;
* every repository path, relative link (and its ``#anchor``) and ``make`` target the docs name exists;
* the figures in prose (:data:`FIGURES`: a default, a pin, a bound) are the code's;
* the README stays at most :data:`README_LINES` lines; no doc creates by hand what the dev stack creates.

``python -m tests.support.docs_check`` prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import sys
import tempfile
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

CHECKOUT = Path(__file__).resolve().parents[2]
SHOWN_CHECKOUT = "/home/you/pg-dr"
README_LINES = 300
# Written by changes merged alongside this one (restore, brownfield, monitoring, macOS): linked already.
PENDING_DOCS: frozenset[str] = frozenset()  # docs another change still has to write (none now)
REPO_PATH = re.compile(r"(?<![\w./-])(?:components|offline|policy|tests|bench|docs|\.ci)/[A-Za-z0-9_./-]*[A-Za-z0-9_/]")
BLOCK = re.compile(
    r"^(?P<indent>[ ]*)<!-- docs-check (?P<mode>output|excerpt): (?P<command>.+?) -->\n"
    r"(?P=indent)```[^\n]*\n(?P<body>.*?)\n(?P=indent)```",
    re.MULTILINE | re.DOTALL,
)
TIMING = re.compile(r"\(\d+\.\d+ s,")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
SECTION = re.compile(r"^## `pg-dr:(?P<section>[a-z]+)`\n(?P<body>.*?)(?=^## |\Z)", re.MULTILINE | re.DOTALL)
ROW = re.compile(r"^\| (?P<keys>`[^|]*?) \| (?P<default>[^|]*?) \|", re.MULTILINE)


def docs() -> list[Path]:
    return [CHECKOUT / "README.md", *sorted((CHECKOUT / "docs").glob("*.md"))]


def _rel(path: Path) -> str:
    return path.relative_to(CHECKOUT).as_posix() if path.is_relative_to(CHECKOUT) else str(path)


# ------------------------------------------------------------------------------------- outputs
def _run_pg_dr(argv: list[str]) -> str:
    """What ``pg-dr ARGV`` prints (stdout and stderr interleaved as printed), run in the checkout."""
    from offline.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        argv = list(argv)
        shown_out = None
        if "--out" in argv:
            i = argv.index("--out") + 1
            shown_out, argv[i] = argv[i], str(Path(tmp) / argv[i])
        buffer = io.StringIO()
        with contextlib.chdir(CHECKOUT), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            main(argv)
        text = buffer.getvalue()
        if shown_out is not None:
            text = text.replace(str(Path(tmp) / shown_out), shown_out)
    return text


def _config_error_example() -> str:
    """``pg-dr check prod`` on the example stack with three mistakes (configuration.md's example)."""
    from offline.cli import main

    doc = yaml.safe_load((CHECKOUT / "Pulumi.prod.yaml").read_text())
    config = doc["config"]
    config["pg-dr:cluster"]["roles"][0]["validUntil"] = "tomorrow"
    config["pg-dr:cluster"]["roles"][1]["connectionLimit"] = -5
    config["pg-dr:backup"]["hots"] = "indri"
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "pg-dr"
        (project / "policy").mkdir(parents=True)
        for name in ("Pulumi.yaml", "__main__.py", "policy/tailnet.hujson"):
            shutil.copy2(CHECKOUT / name, project / name)
        (project / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            main(["--project-dir", str(project), "check", "prod", "--previous", "none"])
        return buffer.getvalue().replace(str(project), SHOWN_CHECKOUT)


EXAMPLES: dict[str, Callable[[], str]] = {"config-error-example": _config_error_example}


def command_output(command: str) -> str:
    if command in EXAMPLES:
        text = EXAMPLES[command]()
    else:
        words = shlex.split(command)
        if words[:1] != ["pg-dr"]:
            raise ValueError(f"docs-check runs pg-dr commands or {sorted(EXAMPLES)}, not {command!r}")
        text = _run_pg_dr(words[1:])
    return TIMING.sub("(N s,", text.replace(str(CHECKOUT), SHOWN_CHECKOUT))


def _dedent(body: str, indent: str) -> list[str]:
    return [line[len(indent) :] if line.startswith(indent) else line for line in body.split("\n")]


def output_problems(path: Path) -> Iterator[str]:
    text = path.read_text()
    for block in BLOCK.finditer(text):
        line_no = text[: block.start()].count("\n") + 1
        where = f"{_rel(path)}:{line_no}"
        expected = [TIMING.sub("(N s,", line) for line in _dedent(block["body"], block["indent"])]
        try:
            actual = command_output(block["command"]).rstrip("\n").split("\n")
        except Exception as exc:  # a command that fails is a drift too
            yield f"{where}: `{block['command']}` failed: {type(exc).__name__}: {exc}"
            continue
        if block["mode"] == "output" and expected != actual:
            yield f"{where}: the output of `{block['command']}` changed; it prints now:\n" + "\n".join(actual)
        if block["mode"] == "excerpt":
            missing = _excerpt_missing(expected, actual)
            if missing is not None:
                yield f"{where}: `{block['command']}` no longer prints (in this order): {missing!r}"


def _excerpt_missing(expected: list[str], actual: list[str]) -> str | None:
    """The first excerpt line not found in order (``...`` skips any lines; else lines must follow on)."""
    at, skipping = 0, True
    for line in expected:
        if line.strip() == "...":
            skipping = True
            continue
        if skipping:
            found = next((i for i in range(at, len(actual)) if actual[i] == line), None)
        else:
            found = at if at < len(actual) and actual[at] == line else None
        if found is None:
            return line
        at, skipping = found + 1, False
    return None


# --------------------------------------------------------------------------------- config keys
def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds and whether it holds a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    is_list = typing.get_origin(annotation) is list
    for arg in typing.get_args(annotation):
        model, inner_list = _model_in(arg)
        if model is not None:
            return model, is_list or inner_list
    return None, False


def model_keys(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every key a section accepts, nested keys by path (``roles[].name``), with its field info."""
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        sub, is_list = _model_in(field.annotation)
        if sub is None:
            keys[key] = field
        else:
            keys[f"{key}[]" if is_list else key] = None  # a container: may have a row of its own
            keys.update(model_keys(sub, f"{key}[]." if is_list else f"{key}."))
    return keys


def _default_problem(key: str, field: Any, cell: str) -> str | None:
    tokens = re.findall(r"`([^`]*)`", cell)
    first = tokens[0].strip('"') if tokens else None
    if field.default is PydanticUndefined and field.default_factory is None:
        return None if "required" in cell else f"is required, the table says {cell!r}"
    default = field.default
    if isinstance(default, bool):
        shown = "true" if default else "false"
    elif isinstance(default, (int, str)):
        shown = str(default)
    else:
        return None  # None (computed or absent) or a factory: described in words
    return None if first == shown else f"defaults to `{shown}`, the table says {cell!r}"


def config_problems(text: str | None = None) -> Iterator[str]:
    """``docs/configuration.md`` (or ``text``) against the keys and defaults of the config models."""
    from components.config.stack import StackConfig

    if text is None:
        text = (CHECKOUT / "docs" / "configuration.md").read_text()
    documented: dict[str, dict[str, str]] = {}
    for section in SECTION.finditer(text):
        rows = documented.setdefault(section["section"], {})
        for row in ROW.finditer(section["body"]):
            for key in re.findall(r"`([^`]+)`", row["keys"]):
                rows[key] = row["default"]
    for name, field in StackConfig.model_fields.items():
        model, _ = _model_in(field.annotation)
        if model is None:
            continue
        section = field.alias or name
        accepted = model_keys(model)
        rows = documented.get(section)
        if rows is None:
            yield f"docs/configuration.md: no section ## `pg-dr:{section}`"
            continue
        for key in sorted(set(accepted) - set(rows)):
            if accepted[key] is not None:
                yield f"docs/configuration.md: pg-dr:{section}.{key} is accepted but has no row"
        for key in sorted(set(rows) - set(accepted)):
            yield f"docs/configuration.md: pg-dr:{section}.{key} has a row but is no key the config accepts"
        for key in sorted(set(rows) & set(accepted)):
            if accepted[key] is not None:
                problem = _default_problem(key, accepted[key], rows[key])
                if problem:
                    yield f"docs/configuration.md: pg-dr:{section}.{key} {problem}"
    for section in sorted(set(documented) - {f.alias or n for n, f in StackConfig.model_fields.items()}):
        yield f"docs/configuration.md: ## `pg-dr:{section}` is no section the config accepts"


# ------------------------------------------------------------------------- paths, links, targets
def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", path.read_text(), re.MULTILINE)}


def _make_targets() -> set[str]:
    makefile = (CHECKOUT / "Makefile").read_text()
    return set(re.search(r"^\.PHONY: (.+)$", makefile, re.MULTILINE).group(1).split())  # type: ignore[union-attr]


def reference_problems(path: Path) -> Iterator[str]:
    text = path.read_text()
    where = _rel(path)
    for name in sorted({m.group(0) for m in REPO_PATH.finditer(text)}):
        if not (CHECKOUT / name).exists() and name not in PENDING_DOCS:
            yield f"{where}: names {name}, which does not exist"
    for link in LINK.finditer(text):
        target = link["target"]
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        file = (path.parent / file_part).resolve() if file_part else path
        if not file.exists():
            if _rel(file) not in PENDING_DOCS:
                yield f"{where}: links {target}, which does not exist"
            continue
        if anchor and file.suffix == ".md" and anchor not in _anchors(file):
            yield f"{where}: links {target}, but {_rel(file)} has no heading #{anchor}"
    targets = _make_targets()
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", text)) | set(
        re.findall(r"^\s*make ([a-z][a-z0-9-]*)", text, re.M)
    )
    for target in sorted(named - targets):
        yield f"{where}: names `make {target}`, which the Makefile does not have"


def dev_stack_problems(paths: list[Path] | None = None) -> Iterator[str]:
    """The dev instructions must not create by hand what the dev stack creates (AlreadyExists at up)."""
    cluster = (yaml.safe_load((CHECKOUT / "Pulumi.dev.yaml").read_text())["config"]).get("pg-dr:cluster") or {}
    if cluster.get("createNamespace"):
        namespace = re.escape(cluster["namespace"])
        pattern = re.compile(rf"^\s*kubectl\b[^#\n]*\bcreate (?:namespace|ns) {namespace}\b", re.M)
        for path in docs() if paths is None else paths:
            if pattern.search(path.read_text()):
                yield (
                    f"{_rel(path)}: creates namespace {cluster['namespace']} by hand, but Pulumi.dev.yaml creates it "
                    "(createNamespace: true): the first up would fail with AlreadyExists"
                )


def _pin(name: str, file: str = "constraints.txt") -> str:
    found = re.search(rf"^{re.escape(name)}==(\S+)$", (CHECKOUT / file).read_text(), re.MULTILINE)
    return found.group(1) if found else "(not pinned)"


def _default(model: str, field: str) -> Any:
    from components.borgmatic.config import BackupConfig

    return {"BackupConfig": BackupConfig}[model].model_fields[field].default


def _grace() -> int:
    from components.borgmatic import readiness

    return readiness.UNREACHABLE_GRACE_SECONDS


# Figures in prose: (file, the sentence with {} for the figure, where the figure comes from).
FIGURES: list[tuple[str, str, Callable[[], Any]]] = [
    ("README.md", "(up to `loginWaitSeconds`, {} s)", lambda: _default("BackupConfig", "login_wait_seconds")),
    ("docs/development.md", "the wait fails after {} s", _grace),
    ("docs/development.md", "pip install borgmatic=={}", lambda: _pin("borgmatic")),
    ("docs/configuration.md", "(borgmatic {} streams custom dumps", lambda: _pin("borgmatic")),
    ("docs/policy-pack.md", "pinned to pulumi-policy {} and", lambda: _pin("pulumi-policy", "requirements.txt")),
    ("docs/policy-pack.md", "(pulumi-policy {} is pinned there", lambda: _pin("pulumi-policy", "requirements.txt")),
    ("docs/tests.md", "the README stays under {} lines", lambda: README_LINES),
]


def figure_problems() -> Iterator[str]:
    for file, sentence, value in FIGURES:
        expected = sentence.format(value())
        if expected not in (CHECKOUT / file).read_text():
            yield f"{file}: should say {expected!r} (the figure is the code's)"


def problems() -> list[str]:
    found: list[str] = []
    readme = CHECKOUT / "README.md"
    lines = readme.read_text().count("\n")
    if lines > README_LINES:
        found.append(f"README.md: {lines} lines, more than {README_LINES}: move details into docs/")
    for path in docs():
        found += output_problems(path)
        found += reference_problems(path)
    found += config_problems()
    found += dev_stack_problems()
    found += figure_problems()
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"docs-check: {problem}")
    print(f"docs-check: {len(found)} problem{'' if len(found) == 1 else 's'} in {len(docs())} files")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
