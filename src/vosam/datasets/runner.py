"""Segmenting one dataset sequence from its input annotations into the format's layout.

A sequence is played by a :class:`vosam.Session` (:func:`sequence_session`) holding its
inputs. Dataset inputs can be partial: on the frame where an object of YouTube-VOS or LVOS
first appears, the annotation draws only that object; there the session propagates the
frame, paints the new objects over the prediction and gives the tracker the merged mask
(what XMem does). Objects do not exist before their first frame. Inputs that are the whole
truth of their frame (DAVIS, Long-time Video) go into permanent memory before propagation
when ``permanent_memory`` is on (XMem++); partial ones never do. Long-time Video's ×3
protocol is the session's :attr:`~vosam.playback.Order.X3`. With a
:class:`~vosam.refine.refiner.Refiner`, every propagated frame is refined and accepted masks
are fed back into the tracker's memory (the refiner's settings decide).

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
from vosam.errors import InputError, MaskError
from vosam.io import FolderSource, write_frame_map
from vosam.playback import Order, Step
from vosam.progress import Progress
from vosam.runs import finish_output, prepare_output
from vosam.sinks import LastVisitSink, PaletteSink, feed

if TYPE_CHECKING:
    from vosam.engines import Propagator
    from vosam.refine.refiner import Refiner
    from vosam.session import Session

__all__ = [
    "output_names",
    "playing_order",
    "propagate_sequence",
    "segment_sequence",
    "sequence_session",
    "sequence_steps",
    "write_run",
    "write_sequence",
]

log = logging.getLogger(__name__)


def playing_order(n: int, x3: bool = False) -> list[int]:
    """Frame indices in the order they are played: ``0..n-1``, or the ×3 protocol's."""
    return [index for _, index in (Order.X3 if x3 else Order.FORWARD).plays(n)]


def output_names(seq: DatasetSequence, source: FolderSource) -> tuple[str, ...]:
    """Names of the frames whose masks are written (the format's scored frames)."""
    return tuple(seq.write) if seq.write is not None else source.names


def sequence_session(
    seq: DatasetSequence,
    source: FolderSource,
    engine: Propagator,
    *,
    refiner: Refiner | None = None,
    permanent_memory: bool = True,
) -> Session:
    """A :class:`~vosam.session.Session` of ``seq``'s frames holding its input annotations
    (partial ones marked so), as the dataset protocols play it.

    Raises:
        InputError: an input annotates a frame the video lacks.
        MaskError: the first input (before which nothing is known) has no object.
    """
    from vosam.session import Session, SessionConfig

    position = {name: i for i, name in enumerate(source.names)}
    inputs = {}
    for frame, given in seq.inputs.items():
        if frame not in position:
            raise InputError(given.path, f"annotates frame '{frame}', which the video lacks")
        inputs[position[frame]] = (given, given.load(source.size))
    # permanent memory may know an object before its first input (XMem++); partial inputs
    # are not in it, so their objects appear from their own frame on
    config = SessionConfig(permanent_memory=permanent_memory, objects_from_first_annotation=False)
    session = Session(source, propagator=engine, config=config, refiner=refiner)
    known = permanent_memory and any(
        _has_object(mask) for given, mask in inputs.values() if not given.partial
    )
    for index, (given, mask) in sorted(inputs.items()):
        if not known and not _has_object(mask):
            raise MaskError(given.path, "no object to track: the annotation is empty")
        known = True
        session.add_annotation(index, mask, partial=given.partial)
    return session


def _has_object(mask: np.ndarray) -> bool:
    return bool(((mask > 0) & (mask < 255)).any())


def sequence_steps(
    seq: DatasetSequence,
    source: FolderSource,
    engine: Propagator,
    *,
    x3: bool = False,
    refiner: Refiner | None = None,
    permanent_memory: bool = True,
) -> Iterator[Step]:
    """Every frame played of ``seq``, in playing order, by the session of
    :func:`sequence_session`; with ``x3`` the video is played forward, backward and forward
    again (:attr:`~vosam.playback.Order.X3`). Frames before the first input are empty."""
    session = sequence_session(
        seq, source, engine, refiner=refiner, permanent_memory=permanent_memory
    )
    return session.run(order=Order.X3 if x3 else Order.FORWARD)


def propagate_sequence(
    seq: DatasetSequence,
    source: FolderSource,
    engine: Propagator,
    *,
    x3: bool = False,
    refiner: Refiner | None = None,
    permanent_memory: bool = True,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(step, frame index, uint8 (H, W) mask)`` of :func:`sequence_steps`.

    ``step`` counts the frames played (the tracker's frame index).
    """
    steps = sequence_steps(
        seq, source, engine, x3=x3, refiner=refiner, permanent_memory=permanent_memory
    )
    for step in steps:
        yield step.step, step.index, step.mask


def write_sequence(
    steps: Iterable[Step],
    source: FolderSource,
    folder: Path,
    *,
    names: tuple[str, ...],
    x3: bool = False,
    progress: Progress | None = None,
) -> int:
    """Write the masks of ``steps`` (:func:`sequence_steps`) into ``folder`` as palette PNGs.

    Only frames in ``names`` are written, each from its last visit (with ``x3`` a frame is
    played up to three times). Also writes ``frames.csv``. Returns the masks written.
    """
    sink = LastVisitSink(PaletteSink(folder), playing_order(len(source), x3), names=names)
    write_frame_map(folder, source)
    frames = ((s.index, source.names[s.index], s.image, s.result) for s in steps)
    feed([sink], frames, progress=progress)
    return sink.written


def write_run(
    seq: DatasetSequence,
    source: FolderSource,
    steps: Iterable[Step],
    folder: Path,
    *,
    names: tuple[str, ...],
    settings: dict,
    x3: bool = False,
    progress: bool = True,
) -> int:
    """One sequence's run into the empty ``folder``: ``run.json`` opened, the masks of
    ``steps`` written (:func:`write_sequence`), every file's digest recorded. Returns the
    masks written."""
    prepare_output(
        folder,
        inputs=[seq.frames, seq.annotations],
        settings=settings,
        names=names,
        overwrite=True,
    )
    count = len(playing_order(len(source), x3))
    with Progress(count, f"{seq.name} frames", enabled=progress) as bar:
        written = write_sequence(steps, source, folder, names=names, x3=x3, progress=bar)
    finish_output(folder, settings, written)
    return written


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
    from vosam.distributed.plan import check_inputs, check_targets
    from vosam.distributed.worker import hidden_folder, replace_folder
    from vosam.runs import check_output, locked_outputs

    target = Path(out_root) / seq.output
    source = FolderSource(seq.frames)
    names = output_names(seq, source)
    settings = {**settings, "sequence": seq.name, "x3": x3}
    check_targets([seq], Path(out_root))
    with locked_outputs(Path(out_root), command="dataset"):
        state = check_output(target, settings=settings, names=names, overwrite=overwrite)
        if state.kind == "done":
            return 0
        check_inputs(seq, source.size)
        partial = hidden_folder(target, "partial")
        steps = sequence_steps(
            seq, source, engine, x3=x3, refiner=refiner, permanent_memory=permanent_memory
        )
        try:
            count = write_run(
                seq,
                source,
                steps,
                partial,
                names=names,
                settings=settings,
                x3=x3,
                progress=progress,
            )
            replace_folder(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    log.debug("%s: %d frames written to %s", seq.name, count, target)
    return count
