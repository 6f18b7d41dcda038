"""The ``vosam`` command. Each subcommand lives in its own module of this package and
exposes ``register(subparsers)``; this file only dispatches."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import import_module

from vosam.errors import VosamError

# subcommand modules, each with register(subparsers) setting ``func`` via set_defaults
_COMMANDS: tuple[str, ...] = (
    "vosam.cli.segment_cmd",
    "vosam.cli.dataset_cmd",
    "vosam.cli.eval_cmd",
    "vosam.cli.suggest_cmd",
    "vosam.cli.sweep_cmd",
    "vosam.cli.app_cmd",
    "vosam.cli.discover_cmd",
    "vosam.cli.refine_vis_cmd",
    "vosam.cli.models_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vosam", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except VosamError as exc:
        print(f"vosam {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vosam {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
