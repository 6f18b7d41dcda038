"""A session's results as files: a palette PNG per frame, plus the run's other sinks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vosam.io import write_frame_map
from vosam.progress import Progress
from vosam.session import Session
from vosam.sinks import MaskSink, PaletteSink, abort_all, close_all, write_all
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
    every = [PaletteSink(out_dir), *sinks]
    count, last = 0, -1
    try:
        for index, image, result in results:
            write_all(every, index, session.names[index], image, result)
            count, last = count + 1, index
            if progress is not None:
                progress.update()
            if stop is not None and stop():
                break
        close_all(every)
    except BaseException:
        abort_all(every)
        raise
    source = session.source
    write_frame_map(out_dir, source, count=None if source.length_known else last + 1)
    return count
