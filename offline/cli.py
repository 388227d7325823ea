"""The ``pg-dr`` command: the stack program, offline.

``pg-dr render STACK --out DIR`` runs ``__main__.py`` under the SDK's mocks with ``Pulumi.STACK.yaml``
and writes what ``pulumi up`` would send, for review. No Pulumi CLI, network or credentials are
needed: secret references become placeholders unless ``--resolve-secrets`` is given, and even then no
secret value is written to disk. ``pg-dr check STACK...`` validates without writing; ``pg-dr diff A B``
compares two stacks for promotion.

The project is found like ``pulumi`` finds it: the nearest ``Pulumi.yaml`` at or above the working
directory, or ``--project-dir`` (before or after the subcommand). Exit status: 0 success (``diff``: the
stacks render the same), 1 ``diff`` only: they differ, 2 error.
"""

from __future__ import annotations

import argparse
import os
import site
import subprocess
import sys
import tomllib
import traceback
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pulumi

from components.project import PROJECT_DIR
from offline.engine import RenderError, load_stack_file, render_stack
from offline.output import graph, render_texts, write_render
from offline.previous import PreviousError, find_previous, removals
from offline.project import ProjectError, check_project, find_project

PACKAGE = "pg-dr"


def version() -> str:
    """The installed package's version, else the one in the checkout's ``pyproject.toml``."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        pyproject = PROJECT_DIR / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


# Set for a pg-dr run on another checkout's own code (see _own_code): that run must not delegate again.
DELEGATED = "PG_DR_DELEGATED_PROJECT"


class _Delegated(Exception):
    """The command ran as the project's own pg-dr, in a child process, which exited with ``code``."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _project(args: argparse.Namespace) -> Path:
    given = getattr(args, "project_dir", None)
    project = check_project(given) if given is not None else find_project(Path.cwd())
    _own_code(project, args.argv)
    print(f"pg-dr: project {project}", file=sys.stderr)
    args.found_project = project
    return project


def _own_code(project: Path, argv: list[str]) -> None:
    """Make sure the project runs its own ``components/`` (and pg-dr), never this installation's.

    A second checkout's ``__main__.py`` imports ``components``, which in this process is the package pg-dr was
    installed from: its stack files would run with another checkout's code. So pg-dr runs again as the
    project's own (its ``offline/`` and ``components/`` first on the path), or refuses.
    """
    if not (project / "components").is_dir() or project.resolve() == PROJECT_DIR.resolve():
        return
    if os.environ.get(DELEGATED) == str(project):
        raise ProjectError(f"{project}: could not run its own components/ (this pg-dr loads {PROJECT_DIR}'s)")
    if not (project / "offline" / "cli.py").is_file():
        raise ProjectError(
            f"{project} has its own components/ but no offline/cli.py: pg-dr installed from {PROJECT_DIR} would run "
            f"its stacks with other code; run the pg-dr of that checkout instead"
        )
    env = {**os.environ, DELEGATED: str(project)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")]))
    # -P: the working directory (maybe this checkout) must not come before the project on the path
    command = [sys.executable, "-P", "-m", "offline.cli", *argv]
    print(f"pg-dr: project {project} has its own code: running {project}/offline/cli.py", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    raise _Delegated(subprocess.run(command, env=env, check=False).returncode)


def _provider_config(project: Path, stack: str) -> Mapping[str, Any]:
    """The stack file's provider keys (``kubernetes:context``, ``tailscale:tailnet``...) for the summary."""
    return {k: v for k, v in load_stack_file(project, stack).items() if ":" in k}


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _compare_with_previous(args: argparse.Namespace, project: Path, stack: str, render: Any, out: Path | None) -> None:
    """Put a loud warning first in ``render.warnings`` for every section and resource the previous render had."""
    previous = find_previous(project, stack, getattr(args, "previous", None), out)
    if previous is None:
        return
    if previous.graph.get("stack") != stack:
        print(f"pg-dr: stack {stack}: not compared with {previous.path} (a render of another stack)", file=sys.stderr)
        return
    removed = removals(previous, graph(render, _provider_config(project, stack)))
    render.warnings[:0] = removed
    if not removed:
        print(f"pg-dr: stack {stack}: nothing removed since the previous render {previous.path}", file=sys.stderr)


def _render(args: argparse.Namespace) -> int:
    project = _project(args)
    render = render_stack(args.stack, project_dir=project, resolve_secrets=args.resolve_secrets)
    _compare_with_previous(args, project, args.stack, render, Path(args.out))
    written = write_render(render, args.out, _provider_config(project, args.stack))
    _warn(render.warnings)
    print(
        f"rendered stack {args.stack}: {_plural(len(render.resources), 'resource')}, {_plural(len(written), 'file')} "
        f"in {args.out} "
        f"({render.seconds:.2f} s{', secrets resolved' if args.resolve_secrets else ', secrets as placeholders'}); "
        f"review {Path(args.out) / 'summary.md'}"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    project = _project(args)
    failed = 0
    for stack in args.stacks:
        try:
            render = render_stack(stack, project_dir=project)
            render_texts(render, _provider_config(project, stack))  # every file renders; nothing is written
            _compare_with_previous(args, project, stack, render, None)
        except (RenderError, pulumi.RunError, PreviousError) as exc:
            print(f"pg-dr: error: stack {stack}: {exc}", file=sys.stderr)
            failed += 1
            continue
        _warn(render.warnings)
        counts = f"{_plural(len(render.resources), 'resource')}, {_plural(len(render.warnings), 'warning')}"
        print(f"ok: stack {stack}: {counts}")
    return 2 if failed else 0


def _diff(args: argparse.Namespace) -> int:
    from offline.promotion import compare, format_diff

    project = _project(args)
    renders = []
    for stack in (args.a, args.b):
        try:
            renders.append(graph(render_stack(stack, project_dir=project), _provider_config(project, stack)))
        except (RenderError, pulumi.RunError) as exc:
            raise RenderError(f"stack {stack}: {exc}") from None
    diff = compare(*renders)
    print(format_diff(diff), end="")
    return 1 if diff.differs else 0


def build_parser() -> argparse.ArgumentParser:
    help_dir = "directory holding Pulumi.yaml and __main__.py (default: the nearest one at or above the cwd)"
    help_previous = (
        "the previous render to compare with, so that a removed section is said loudly: a graph.json, a render "
        "directory, or none (default: the last render in --out, for check render/<stack>/, else the committed "
        "snapshot tests/unit/offline/renders/<stack>/)"
    )
    parser = argparse.ArgumentParser(prog="pg-dr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--project-dir", type=Path, default=None, help=help_dir)
    # Also accepted after the subcommand; SUPPRESS keeps an absent one from hiding the one given before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project-dir", type=Path, default=argparse.SUPPRESS, help=help_dir)
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", parents=[common], help="render a stack offline for review")
    render.add_argument("stack", help="stack name (reads Pulumi.<stack>.yaml)")
    render.add_argument(
        "--out", type=Path, required=True, help="output directory, replaced as a whole (pg-dr's own, or empty)"
    )
    render.add_argument(
        "--resolve-secrets", action="store_true", help="resolve secret references for real (still never written)"
    )
    render.add_argument("--previous", metavar="PATH", help=help_previous)
    render.set_defaults(run=_render)

    check = sub.add_parser(
        "check", parents=[common], help="validate stacks offline, write nothing (exit 0: valid, 2: error)"
    )
    check.add_argument("stacks", nargs="+", metavar="STACK", help="stack name(s) (reads Pulumi.<stack>.yaml)")
    check.add_argument("--previous", metavar="PATH", help=help_previous)
    check.set_defaults(run=_check)

    diff = sub.add_parser(
        "diff",
        parents=[common],
        help="compare two stacks' renders for promotion review (exit 0: same, 1: different, 2: error)",
    )
    diff.add_argument("a", help="the stack promoted from (e.g. dev)")
    diff.add_argument("b", help="the stack promoted to (e.g. prod)")
    diff.set_defaults(run=_diff)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.run(args)
    except _Delegated as delegated:
        return delegated.code
    except (ProjectError, RenderError, pulumi.RunError, PreviousError) as exc:
        print(f"pg-dr: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the program crashed: exit 2 (never 1, which `diff` means "differ")
        _report_crash(exc, getattr(args, "found_project", None))
        return 2


def _report_crash(exc: BaseException, project: Path | None) -> None:
    """Like ``pulumi`` on an unhandled exception: the error and where the project's code raised it."""
    print(f"pg-dr: error: the program failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    frames = traceback.extract_tb(exc.__traceback__)
    if project is not None:
        # the project's own files: not its virtualenv's packages (often .venv inside the project), nor pg-dr's engine
        installed = {Path(p) for p in (sys.prefix, sys.base_prefix, *site.getsitepackages())}
        frames = traceback.StackSummary.from_list(
            [
                f
                for f in frames
                if Path(f.filename).is_relative_to(project)
                and not any(Path(f.filename).is_relative_to(p) for p in installed)
                and not Path(f.filename).is_relative_to(project / "offline")
            ]
        )
    if frames:
        print("".join(traceback.format_list(frames)), file=sys.stderr, end="")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
