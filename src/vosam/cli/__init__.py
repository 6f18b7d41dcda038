"""The ``vosam`` command. Each subcommand lives in its own module of this package and
exposes ``register(subparsers)``; this file only dispatches."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path

from vosam.errors import VosamError

log = logging.getLogger(__name__)

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
    "vosam.cli.train_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vosam", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        import_module(name).register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the run is abandoned cleanly (staged files removed,
    locks released) instead of the process dying where it stands."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated` (main thread only)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# errors of the system whose message is better with a hint of what to do
_HINTS = {
    errno.ENOSPC: "free some space and run again",
    errno.EDQUOT: "free some space and run again",
    errno.ENAMETOOLONG: "choose a shorter name",
    errno.EROFS: "choose a writable place",
    errno.EACCES: "choose a place you may write to",
    errno.EISDIR: "name a file, not a folder",
}


def os_error_line(exc: OSError, args: argparse.Namespace) -> str:
    """One line for an error of the system (disk full, name too long, read-only file
    system...): the file it concerns (the destination of a rename; the command's output
    when the system does not say), the system's words and what to do."""
    path = exc.filename2 if exc.filename2 is not None else exc.filename
    if path is None:
        path = getattr(args, "out", None)
    if isinstance(path, bytes):
        path = path.decode(errors="replace")
    what = exc.strerror or str(exc) or type(exc).__name__
    hint = _HINTS.get(exc.errno)
    line = f"{what}; {hint}" if hint else what
    return f"{Path(path)}: {line}" if path is not None else line


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with _sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except VosamError as exc:
        print(f"vosam {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"vosam {args.command}: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"vosam {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        log.debug("error of the system", exc_info=True)
        print(
            f"vosam {args.command}: error: {_one_line(os_error_line(exc, args))}", file=sys.stderr
        )
        return 2


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))


if __name__ == "__main__":
    sys.exit(main())
