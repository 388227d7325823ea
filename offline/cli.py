"""The ``pg-dr`` command: the stack program, offline.

``pg-dr render STACK --out DIR`` runs ``__main__.py`` under the SDK's mocks with ``Pulumi.STACK.yaml``
and writes what ``pulumi up`` would send, for review. No Pulumi CLI, network or credentials are
needed: secret references become placeholders unless ``--resolve-secrets`` is given, and even then no
secret value is written to disk.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pulumi

from offline.engine import PROJECT_DIR, RenderError, render_stack
from offline.output import write_render


def _render(args: argparse.Namespace) -> int:
    render = render_stack(args.stack, project_dir=args.project_dir, resolve_secrets=args.resolve_secrets)
    written = write_render(render, args.out)
    for warning in render.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"rendered stack {args.stack}: {len(render.resources)} resources, {len(written)} files in {args.out} "
        f"({render.seconds:.2f} s{', secrets resolved' if args.resolve_secrets else ', secrets as placeholders'})"
    )
    return 0


def _diff(args: argparse.Namespace) -> int:
    from offline.output import graph
    from offline.promotion import compare, format_diff

    renders = [graph(render_stack(stack, project_dir=args.project_dir)) for stack in (args.a, args.b)]
    diff = compare(*renders)
    print(format_diff(diff), end="")
    return 1 if diff.differs else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pg-dr", description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="directory holding Pulumi.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="render a stack offline for review")
    render.add_argument("stack", help="stack name (reads Pulumi.<stack>.yaml)")
    render.add_argument("--out", type=Path, required=True, help="output directory")
    render.add_argument(
        "--resolve-secrets", action="store_true", help="resolve secret references for real (still never written)"
    )
    render.set_defaults(run=_render)
    diff = sub.add_parser(
        "diff", help="compare two stacks' renders for promotion review (exit 0: same, 1: different, 2: error)"
    )
    diff.add_argument("a", help="the stack promoted from (e.g. dev)")
    diff.add_argument("b", help="the stack promoted to (e.g. prod)")
    diff.set_defaults(run=_diff)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (RenderError, pulumi.RunError) as exc:
        print(f"pg-dr: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
