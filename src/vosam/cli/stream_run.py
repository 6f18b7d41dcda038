"""What ``vosam segment`` adds for live streams (the options are in
:mod:`vosam.cli.segment_cmd`): ``--max-frames``, ``--preview``, a clean stop on Ctrl-C, and
an output folder that never mixes two streams' runs."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Self

from vosam.errors import InputError, OutputError
from vosam.runs import RUN_FILE


def open_stream(args: argparse.Namespace):  # -> vosam.io.stream.StreamSource
    """The stream ``args.source`` with ``--stream-format`` and ``--stream-option``."""
    from vosam.io.stream import StreamSource

    options = {}
    for text in args.stream_option:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise InputError(f"--stream-option {text}", "an option is KEY=VALUE")
        options[key] = value
    timeout = args.stream_timeout
    if not (math.isfinite(timeout) and timeout > 0):
        raise InputError(f"--stream-timeout {timeout:g}", "give a positive number of seconds")
    return StreamSource(
        args.source, input_format=args.stream_format, options=options or None, timeout=timeout
    )


def check_stream_output(out_dir: Path, *, overwrite: bool) -> None:
    """A stream's run goes into a folder of its own: an earlier run there (of a stream or
    not) is refused unless ``overwrite``, which replaces it whole.

    Raises:
        OutputError: ``out_dir`` holds a run and ``overwrite`` is False.
    """
    if (Path(out_dir) / RUN_FILE).is_file() and not overwrite:
        raise OutputError(
            out_dir,
            "holds an earlier run; a stream's run is never resumed or mixed with another: "
            "choose another folder or pass --overwrite to replace it",
        )


class StopSignal:
    """While active and ``enabled``, the first SIGINT (Ctrl-C) or SIGTERM asks the run to
    stop after the frame being written (:attr:`reason` is set, and ``on_stop()`` called: a
    stream source's ``interrupt``, so a stalled stream stops too); a second one interrupts
    at once (KeyboardInterrupt, or :class:`vosam.cli.Terminated` for SIGTERM)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, *, enabled: bool = True, on_stop: Callable[[], None] | None = None) -> None:
        self.enabled = enabled
        self.on_stop = on_stop
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        from vosam.cli import Terminated

        if self.reason is not None:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        name = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted (SIGINT)"
        self.reason = name
        if self.on_stop is not None:
            self.on_stop()
        print("stopping after this frame (Ctrl-C again to abandon the run)", file=sys.stderr)

    def __enter__(self) -> Self:
        if self.enabled:
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
