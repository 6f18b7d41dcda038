"""Progress of long work: frames done, frames per second and time left.

Writes one updating line to a terminal, or a line every few seconds to a log or a pipe.
Work of unknown length (a live stream) shows the count and the rate without a time left,
and how many items wait behind the one being worked on (the latency, when given).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``with Progress(total, "frames") as bar: bar.update()`` after each item.

    ``total`` None: the length is unknown; ``behind()`` gives the items waiting.
    """

    def __init__(
        self,
        total: int | None,
        label: str = "frames",
        *,
        stream: TextIO | None = None,
        every: float = 5.0,
        enabled: bool = True,
        behind: Callable[[], int] | None = None,
    ) -> None:
        self.total = total
        self.behind = behind
        self.label = label
        self.stream = stream or sys.stderr
        self.every = every
        self.enabled = enabled
        self.done = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    @property
    def rate(self) -> float:
        """Items per second so far."""
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        if self.total is None:
            text = f"{self.label} {self.done}  {rate:.2f} {self.label}/s"
            if self.behind is not None:
                text += f"  {self.behind()} behind"
            return text
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_text = _clock(eta) if eta == eta else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"{self.label} {self.done}/{self.total} ({pct:.0f}%)  "
            f"{rate:.2f} {self.label}/s  ETA {eta_text}"
        )

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._tty:
            if now - self._last > 0.1 or self._finished():
                self.stream.write("\r" + self.line() + "\033[K")
                self.stream.flush()
                self._last = now
        elif now - self._last >= self.every or self._finished():
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last = now

    def _finished(self) -> bool:
        return self.total is not None and self.done >= self.total

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()
