"""Segmenting one dataset sequence from its input annotations into the format's layout.

The tracker is driven directly (not through :class:`vosam.Session`) because dataset inputs
can be partial: on the frame where an object of YouTube-VOS or LVOS first appears, the
annotation draws only that object. There the frame is first propagated, the new objects
are painted over the prediction, and the merged mask is given to the tracker as the
frame's annotation (what XMem does). Objects do not exist before their first frame.

Inputs that are the whole truth of their frame (DAVIS, Long-time Video) are encoded into
permanent memory before propagation when ``permanent_memory`` is on (XMem++, as
:class:`vosam.Session` does); partial inputs are encoded when their frame is reached. With
a :class:`~vosam.refine.refiner.Refiner`, every propagated frame is refined and accepted
masks are fed back into the tracker's memory (the refiner's settings decide).

Results go to a hidden folder renamed into place when finished, with ``run.json`` and
``frames.csv`` (see :mod:`vosam.runs`); a finished folder of the same run is skipped.
:mod:`vosam.distributed.segment` runs the same steps one task per sequence on an executor.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vosam.datasets.base import DatasetSequence
from vosam.datasets.long_video import x3_order
from vosam.engines import Propagator, StepResult, Tracker
from vosam.errors import InputError, MaskError
from vosam.io import FolderSource, write_frame_map, write_mask
from vosam.progress import Progress
from vosam.runs import finish_output, prepare_output

if TYPE_CHECKING:
    from vosam.refine.refiner import Refiner, RefineState

__all__ = [
    "output_names",
    "playing_order",
    "propagate_sequence",
    "segment_sequence",
    "write_run",
    "write_sequence",
]

log = logging.getLogger(__name__)


def playing_order(n: int, x3: bool = False) -> list[int]:
    """Frame indices in the order they are played: ``0..n-1``, or the ×3 protocol's."""
    return x3_order(n) if x3 else list(range(n))


def output_names(seq: DatasetSequence, source: FolderSource) -> tuple[str, ...]:
    """Names of the frames whose masks are written (the format's scored frames)."""
    return tuple(seq.write) if seq.write is not None else source.names


def propagate_sequence(
    seq: DatasetSequence,
    source: FolderSource,
    engine: Propagator,
    *,
    x3: bool = False,
    refiner: Refiner | None = None,
    permanent_memory: bool = True,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(step, frame index, uint8 (H, W) mask)`` for every frame in playing order.

    ``step`` counts the frames played (the tracker's frame index); with ``x3`` the video is
    played forward, backward and forward again (:func:`~vosam.datasets.long_video.x3_order`).
    Frames before the first input yield empty masks.
    """
    order = playing_order(len(source), x3)
    position = {name: i for i, name in enumerate(source.names)}
    first_step: dict[int, int] = {}
    for step, index in enumerate(order):
        first_step.setdefault(index, step)
    inputs = {}
    for frame, given in seq.inputs.items():
        if frame not in position:
            raise InputError(given.path, f"annotates frame '{frame}', which the video lacks")
        inputs[position[frame]] = given
    tracker = engine.new_tracker()
    if permanent_memory:
        # whole-truth inputs only: a partial one would tell memory the other objects are absent
        for index, given in sorted(inputs.items(), key=lambda item: first_step[item[0]]):
            if not given.partial:
                image = source.read(index)
                tracker.add_permanent(first_step[index], image, given.load(source.size))
    state = refiner.new_state() if refiner is not None else None
    used: set[int] = set()
    for step, index in enumerate(order):
        image = source.read(index)
        given = inputs.get(index) if index not in used else None
        if given is not None:
            used.add(index)
            ann = given.load(source.size)
            if not tracker.object_ids and not ((ann > 0) & (ann < 255)).any():
                raise MaskError(given.path, "no object to track: the annotation is empty")
            if given.partial and tracker.object_ids:
                predicted = tracker.step(step, image).mask
                ann = np.where(ann > 0, ann, predicted).astype(np.uint8)
            result = tracker.step(step, image, annotation=ann)
            if refiner is not None:
                refiner.observe(state, step, result)
        elif tracker.object_ids:
            result = tracker.step(step, image)
            if refiner is not None:
                result = _refine(refiner, state, tracker, step, image, result)
        else:
            yield step, index, np.zeros(source.size, np.uint8)
            continue
        yield step, index, result.mask


def _refine(
    refiner: Refiner,
    state: RefineState,
    tracker: Tracker,
    step: int,
    image: np.ndarray,
    result: StepResult,
) -> StepResult:
    """Refine one propagated frame; accepted masks go back into the tracker's memory."""
    out = refiner.refine(state, step, image, result)
    if out.accepted and refiner.config.feedback:
        tracker.feedback(step, image, out.result.mask)
    return out.result


def write_sequence(
    results: Iterable[tuple[int, int, np.ndarray]],
    source: FolderSource,
    folder: Path,
    *,
    names: tuple[str, ...],
    x3: bool = False,
    progress: Progress | None = None,
) -> int:
    """Write the masks of :func:`propagate_sequence` ``results`` into ``folder``.

    Only frames in ``names`` are written, each from its last visit (with ``x3`` a frame is
    played up to three times). Also writes ``frames.csv``. Returns the masks written.
    """
    keep = set(names)
    last_visit = {index: step for step, index in enumerate(playing_order(len(source), x3))}
    write_frame_map(folder, source)
    count = 0
    for step, index, mask in results:
        name = source.names[index]
        if step == last_visit[index] and name in keep:
            write_mask(folder / f"{name}.png", mask)
            count += 1
        if progress is not None:
            progress.update()
    return count


def write_run(
    seq: DatasetSequence,
    source: FolderSource,
    results: Iterable[tuple[int, int, np.ndarray]],
    folder: Path,
    *,
    names: tuple[str, ...],
    settings: dict,
    x3: bool = False,
    progress: bool = True,
) -> int:
    """One sequence's run into the empty ``folder``: ``run.json`` opened, the masks of
    ``results`` written (:func:`write_sequence`), every file's digest recorded. Returns the
    masks written."""
    prepare_output(
        folder,
        inputs=[seq.frames, seq.annotations],
        settings=settings,
        names=names,
        overwrite=True,
    )
    steps = len(playing_order(len(source), x3))
    with Progress(steps, f"{seq.name} frames", enabled=progress) as bar:
        count = write_sequence(results, source, folder, names=names, x3=x3, progress=bar)
    finish_output(folder, settings, count)
    return count


def segment_sequence(
    seq: DatasetSequence,
    engine: Propagator,
    out_root: Path,
    *,
    settings: dict,
    overwrite: bool = False,
    x3: bool = False,
    refiner: Refiner | None = None,
    permanent_memory: bool = True,
    progress: bool = True,
) -> int:
    """Segment ``seq`` into ``out_root / seq.output`` in this process; returns the frames
    written (0 when the same run is already complete there).

    Raises:
        OutputError: the target holds another run and ``overwrite`` is False, holds files
            no vosam run wrote, or overlaps the sequence's inputs.
        MaskError: an input annotation is unreadable or has no object.
    """
    from vosam.distributed.segment import _check_targets, _drop_old, check_inputs
    from vosam.runs import check_output, remove_run

    target = Path(out_root) / seq.output
    source = FolderSource(seq.frames)
    names = output_names(seq, source)
    settings = {**settings, "sequence": seq.name, "x3": x3}
    _check_targets([seq], Path(out_root))
    state = check_output(target, settings=settings, names=names, overwrite=overwrite)
    if state.kind == "done":
        return 0
    check_inputs(seq, source.size)
    partial = target.parent / f".{target.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    results = propagate_sequence(
        seq, source, engine, x3=x3, refiner=refiner, permanent_memory=permanent_memory
    )
    count = write_run(
        seq, source, results, partial, names=names, settings=settings, x3=x3, progress=progress
    )
    if target.exists():
        old = target.parent / f".{target.name}.old"
        target.rename(old)
        partial.rename(target)
        _drop_old(old, remove_run)
    else:
        partial.rename(target)
    log.debug("%s: %d frames written to %s", seq.name, count, target)
    return count
