"""Workers that die on purpose, to test that the executor retries their task.

Ray pickles this module by value (the test registers it), so the workers need not import
the tests package.
"""

from __future__ import annotations

import os
from pathlib import Path

from vosam.distributed import SegmentWorker


class CrashingSegmentWorker(SegmentWorker):
    """A :class:`SegmentWorker` whose process exits half-way through sequence ``crash_on``
    the first time any worker runs it (``marker`` records that it happened). Each
    construction (one model load) appends the process id to ``builds``."""

    def __init__(self, spec, *, crash_on: str, after_frames: int, marker: Path, builds: Path):
        super().__init__(spec)
        self.crash_on, self.after_frames, self.marker = crash_on, after_frames, marker
        with open(builds, "a") as f:
            f.write(f"{os.getpid()}\n")

    def _results(self, task, source):
        results = super()._results(task, source)
        if task.name != self.crash_on or self.marker.exists():
            return results
        self.marker.write_text(str(os.getpid()))

        def until_crash():
            for written, item in enumerate(results):
                if written == self.after_frames:
                    os._exit(1)  # the process dies mid-sequence, nothing cleaned up
                yield item

        return until_crash()


class AlwaysDies:
    """A worker whose process exits on every task."""

    def __call__(self, task):
        os._exit(1)
