"""Segmenting one dataset sequence from its input annotations into the format's layout.

The tracker is driven directly (not through :class:`vosam.Session`) because dataset inputs
can be partial: on the frame where an object of YouTube-VOS or LVOS first appears, the
annotation draws only that object. There the frame is first propagated, the new objects
are painted over the prediction, and the merged mask is given to the tracker as the
frame's annotation (what XMem does). Objects do not exist before their first frame.

Results go to a hidden folder renamed into place when finished, with ``run.json`` and
``frames.csv`` (see :mod:`vosam.runs`); a finished folder of the same run is skipped.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vosam.datasets.base import DatasetSequence
from vosam.datasets.long_video import x3_order
from vosam.engines import Propagator
from vosam.errors import InputError, OutputError
from vosam.io import FolderSource, write_mask
from vosam.progress import Progress
from vosam.runs import finish_output, is_complete, prepare_output

__all__ = ["propagate_sequence", "segment_sequence"]

log = logging.getLogger(__name__)


def propagate_sequence(
    seq: DatasetSequence,
    source: FolderSource,
    engine: Propagator,
    *,
    x3: bool = False,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(step, frame index, uint8 (H, W) mask)`` for every frame in playing order.

    ``step`` counts the frames played; with ``x3`` the video is played forward, backward
    and forward again (:func:`~vosam.datasets.long_video.x3_order`). Frames before the
    first input yield empty masks.
    """
    n = len(source)
    order = x3_order(n) if x3 else list(range(n))
    position = {name: i for i, name in enumerate(source.names)}
    inputs = {}
    for frame, given in seq.inputs.items():
        if frame not in position:
            raise InputError(given.path, f"annotates frame '{frame}', which the video lacks")
        inputs[position[frame]] = given
    tracker = engine.new_tracker()
    used: set[int] = set()
    for step, index in enumerate(order):
        image = source.read(index)
        given = inputs.get(index) if index not in used else None
        if given is not None:
            used.add(index)
            ann = given.load(source.size)
            if given.partial and tracker.object_ids:
                predicted = tracker.step(step, image).mask
                ann = np.where(ann > 0, ann, predicted).astype(np.uint8)
            mask = tracker.step(step, image, annotation=ann).mask
        elif tracker.object_ids:
            mask = tracker.step(step, image).mask
        else:
            mask = np.zeros(source.size, np.uint8)
        yield step, index, mask


def segment_sequence(
    seq: DatasetSequence,
    engine: Propagator,
    out_root: Path,
    *,
    settings: dict,
    overwrite: bool = False,
    x3: bool = False,
    progress: bool = True,
) -> int:
    """Segment ``seq`` into ``out_root / seq.output``; returns the frames written (0 when
    the same run is already complete there).

    Raises:
        OutputError: the target holds another run and ``overwrite`` is False.
    """
    target = Path(out_root) / seq.output
    source = FolderSource(seq.frames)
    names = tuple(seq.write) if seq.write is not None else source.names
    settings = {**settings, "sequence": seq.name, "x3": x3}
    if is_complete(target, settings, names):
        return 0
    if not overwrite and target.is_dir() and any(target.iterdir()):
        raise OutputError(target, "holds results of another run; pass --overwrite")
    partial = target.parent / f".{target.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    prepare_output(
        partial,
        inputs=[seq.frames, seq.annotations],
        settings=settings,
        names=names,
        overwrite=True,
    )
    keep = set(names)
    order = x3_order(len(source)) if x3 else list(range(len(source)))
    last_visit = {index: step for step, index in enumerate(order)}
    total = len(order)
    count = 0
    with Progress(total, f"{seq.name} frames", enabled=progress) as bar:
        for step, index, mask in propagate_sequence(seq, source, engine, x3=x3):
            name = source.names[index]
            if step == last_visit[index] and name in keep:
                write_mask(partial / f"{name}.png", mask)
                count += 1
            bar.update()
    finish_output(partial, settings, count)
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    log.debug("%s: %d frames written to %s", seq.name, count, target)
    return count
