"""A session's results as files: a palette PNG per frame, scores and an overlay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vosam.io import OverlayVideoWriter, atomic_write, write_frame_map, write_mask
from vosam.progress import Progress
from vosam.session import Session
from vosam.types import StepResult


@dataclass
class Sinks:
    """Where each propagated frame goes besides the palette PNG."""

    scores_dir: Path | None = None
    overlay: OverlayVideoWriter | None = None


def write_results(
    session: Session,
    results: Iterator[tuple[int, np.ndarray, StepResult]],
    out_dir: Path,
    *,
    sinks: Sinks | None = None,
    progress: Progress | None = None,
) -> int:
    """Consume ``(index, image, result)``: a palette PNG per frame, plus scores and overlay.

    Returns the number of frames written.
    """
    sinks = sinks or Sinks()
    write_frame_map(out_dir, session.source)
    count = 0
    for index, image, result in results:
        name = session.names[index]
        mask = result.mask
        write_mask(out_dir / f"{name}.png", mask)
        if sinks.scores_dir is not None:
            _save_scores(sinks.scores_dir / f"{name}.npy", result.probs)
        if sinks.overlay is not None:
            sinks.overlay.write(image, mask)
        count += 1
        if progress is not None:
            progress.update()
    return count


def _save_scores(path: Path, probs: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.save(f, probs.astype(np.float32, copy=False))
