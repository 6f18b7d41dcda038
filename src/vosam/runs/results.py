"""A session's results as files: a palette PNG per frame, plus the run's other sinks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vosam.io import write_frame_map
from vosam.progress import Progress
from vosam.session import Session
from vosam.sinks import MaskSink, PaletteSink, feed
from vosam.types import StepResult


def write_results(
    session: Session,
    results: Iterator[tuple[int, np.ndarray, StepResult]],
    out_dir: Path,
    *,
    sinks: Sequence[MaskSink] = (),
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Consume ``(index, image, result)``: a palette PNG per frame in ``out_dir`` and each
    frame given to ``sinks`` (scores, overlay, preview), then ``frames.csv``.

    ``stop()`` is asked after each frame; True ends the run there (a stream stopped
    early): the frames written so far are complete files, and ``frames.csv`` lists them.
    The sinks are closed at the end, or aborted when anything fails.

    Returns the number of frames written.
    """
    frames = ((i, session.names[i], image, result) for i, image, result in results)
    every = [PaletteSink(out_dir), *sinks]
    count, last = feed(every, frames, progress=progress, stop=stop)
    source = session.source
    write_frame_map(out_dir, source, count=None if source.length_known else last + 1)
    return count
