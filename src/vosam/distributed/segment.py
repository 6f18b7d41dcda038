"""Segmenting a dataset one sequence per task: what a task is, and the worker that runs it.

A :class:`SequenceTask` is a small, picklable description (paths and the run's settings);
a :class:`~vosam.spec.RunSpec` says which engine and refiner to build.
:class:`SegmentWorker` builds the engine once and then segments any number of sequences.
Each sequence is written into a hidden folder next to its target and renamed into place
only when finished and its manifest (``run.json`` with every file's SHA-256) is written,
so a worker killed half-way leaves no half-written results, and running a task twice is
harmless.

:func:`plan_dataset` is the driver's side: it skips sequences whose output is complete
(verified against the recorded digests), refuses folders of another run, and clears the
leftovers of killed workers.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vosam.datasets.base import DatasetSequence
from vosam.datasets.davis import DavisSequence
from vosam.spec import RunSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SequenceTask:
    """One dataset sequence to segment from its input annotations.

    Attributes:
        sequence: what to segment (frames, input annotations, frames to write), as any
            format's reader describes it (:mod:`vosam.datasets`).
        target: its output folder (``OUT / sequence.output``); replaced as a whole when the
            task finishes.
        settings: JSON-able settings recorded in ``run.json`` (decide completeness).
        x3: play the video forward, backward and forward again (Long-time Video ×3).
    """

    sequence: DatasetSequence
    target: Path
    settings: dict = field(hash=False)
    x3: bool = False

    @property
    def name(self) -> str:
        return self.sequence.name


@dataclass(frozen=True)
class SequenceOutcome:
    """What a worker did with one task.

    Attributes:
        name: sequence name.
        status: ``segmented`` or ``skipped`` (already complete when the worker got it).
        frames: frames written (0 when skipped).
        seconds: time the worker spent on the task, model loading excluded.
        worker: the worker's process id.
    """

    name: str
    status: str
    frames: int
    seconds: float
    worker: int


class SegmentWorker:
    """Holds one loaded engine; ``worker(task)`` segments a sequence and returns its outcome.

    Args:
        spec: the engine to build (once, here).
        show_progress: print per-frame progress to stderr (off in pool workers).
    """

    def __init__(self, spec: RunSpec, *, show_progress: bool = False) -> None:
        self.spec = spec
        self.show_progress = show_progress
        self.engine = spec.build()
        # a refiner holds no per-video state: one serves every sequence
        self.refiner = spec.build_refiner(device=str(self.engine.device))

    def __call__(self, task: SequenceTask) -> SequenceOutcome:
        import os

        from vosam.datasets.runner import output_names
        from vosam.io import FolderSource
        from vosam.runs import is_complete

        start = time.perf_counter()
        source = FolderSource(task.sequence.frames)
        names = output_names(task.sequence, source)
        if is_complete(task.target, task.settings, names):
            return SequenceOutcome(task.name, "skipped", 0, 0.0, os.getpid())
        partial = task.target.parent / f".{task.target.name}.partial-{uuid.uuid4().hex[:8]}"
        try:
            count = self._segment(task, source, names, partial)
            _replace(partial, task.target)
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)
        return SequenceOutcome(
            task.name, "segmented", count, time.perf_counter() - start, os.getpid()
        )

    def _segment(
        self, task: SequenceTask, source: Any, names: tuple[str, ...], partial: Path
    ) -> int:
        from vosam.datasets.runner import write_run

        with source:
            return write_run(
                task.sequence,
                source,
                self._results(task, source),
                partial,
                names=names,
                settings=task.settings,
                x3=task.x3,
                progress=self.show_progress,
            )

    def _results(self, task: SequenceTask, source: Any) -> Iterator[Any]:
        """Every frame played (:class:`~vosam.playback.Step`), in order."""
        from vosam.datasets.runner import sequence_steps

        return sequence_steps(
            task.sequence,
            source,
            self.engine,
            x3=task.x3,
            refiner=self.refiner,
            permanent_memory=self.spec.permanent_memory,
        )


def _replace(partial: Path, target: Path) -> None:
    """Move the finished ``partial`` folder to ``target``, replacing what was there.

    Each step is a rename: ``target`` always holds either the old results or the new ones.
    Of the old folder only what its run wrote is removed (:func:`vosam.runs.remove_run`);
    anything else stays in the hidden ``.<name>.old-*`` folder, with a warning.
    """
    from vosam.runs import remove_run

    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(old)
    partial.rename(target)
    if old is not None:
        _drop_old(old, remove_run)


def _drop_old(old: Path, remove_run: Any) -> None:
    left = remove_run(old)
    if left:
        log.warning("%s: kept %d files no vosam run wrote (%s)", old, len(left), left[0])
        return
    shutil.rmtree(old, ignore_errors=True)


def sequence_settings(base: dict, seq: DatasetSequence, *, x3: bool = False) -> dict:
    """Settings of one sequence's run: the run's ``base`` plus what names the sequence and
    identifies its inputs (the frames' identity, each input annotation's SHA-256)."""
    from vosam.runs import input_digest, source_identity

    out = {
        **base,
        "sequence": seq.name,
        "frames": str(seq.frames.resolve()),
        "frames_id": source_identity(seq.frames),
        "inputs": {frame: input_digest(given.path) for frame, given in seq.inputs.items()},
    }
    if x3:
        out["x3"] = True
    return out


def check_inputs(seq: DatasetSequence, size: tuple[int, int]) -> None:
    """Read every input annotation of ``seq`` (size, encoding) and check that they hold an
    object, before any work.

    Raises:
        MaskError: naming the file.
    """
    from vosam.errors import MaskError

    masks = {frame: given.load(size) for frame, given in seq.inputs.items()}
    if not any(((m > 0) & (m < 255)).any() for m in masks.values()):
        first = next(iter(seq.inputs.values()), None)
        raise MaskError(
            first.path if first is not None else seq.annotations,
            "no object to track: every annotated pixel is background (0) or void (255)",
        )


def _check_targets(sequences: Sequence[DatasetSequence], out: Path) -> None:
    """Refuse a sequence folder that is, contains or lies inside an input of any sequence."""
    from vosam.runs import check_apart

    inputs: list[Path] = []
    for seq in sequences:
        inputs += [seq.frames, seq.annotations, *(g.path for g in seq.inputs.values())]
    inputs = list(dict.fromkeys(inputs))
    resolved = {p.resolve(): p for p in inputs}
    inside: dict[Path, Path] = {}  # folder → an input inside it
    for r, p in resolved.items():
        for a in r.parents:
            inside.setdefault(a, p)
    for seq in sequences:
        target = out / seq.output
        t = target.resolve()
        near = [resolved[a] for a in (t, *t.parents) if a in resolved]
        if t in inside:
            near.append(inside[t])
        check_apart([target], near)


def as_dataset_sequence(seq: DatasetSequence | DavisSequence) -> DatasetSequence:
    """A :class:`DatasetSequence`; a :class:`DavisSequence` starts from its first annotation."""
    return seq if isinstance(seq, DatasetSequence) else seq.described()


def plan_dataset(
    sequences: Sequence[DatasetSequence | DavisSequence],
    out: Path,
    base: dict,
    *,
    overwrite: bool = False,
    x3: bool = False,
) -> tuple[list[SequenceTask], list[str]]:
    """Tasks for the sequences whose output is not complete, and the names already complete.

    Each sequence is written to ``out / sequence.output``. Completeness is verified: every
    frame's PNG present and every file matching the SHA-256 recorded when it was written. A
    damaged output of the same run is redone; a folder holding another run's results is
    refused unless ``overwrite``; a folder holding files that no vosam run wrote, or one
    that is, contains or lies inside an input (frames, annotations) of any sequence, is
    refused. The input annotations of the sequences to run are read and checked first.
    Hidden leftovers of workers that died (``.<seq>.partial-*``, ``.<seq>.old-*``) are
    removed; call this only while no worker writes into ``out``.

    Raises:
        OutputError: a sequence folder holds results of another run and not ``overwrite``,
            holds other files, or overlaps an input.
        MaskError: an input annotation is unreadable, of another size, or has no object.
    """
    from vosam.datasets.runner import output_names
    from vosam.io import FolderSource
    from vosam.runs import check_output

    sequences = [as_dataset_sequence(s) for s in sequences]
    _check_targets(sequences, out)
    tasks, done = [], []
    for seq in sequences:
        settings = sequence_settings(base, seq, x3=x3)
        target = out / seq.output
        source = FolderSource(seq.frames)
        names = output_names(seq, source)
        for kind in ("partial", "old"):
            for stale in target.parent.glob(f".{target.name}.{kind}-*"):
                if kind == "partial":
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    from vosam.runs import remove_run

                    _drop_old(stale, remove_run)
        state = check_output(target, settings=settings, names=names, overwrite=overwrite)
        if state.kind == "done":
            done.append(seq.name)
            continue
        if state.kind == "redo":
            log.warning("%s: output is damaged (%s); segmenting it again", seq.name, state.reason)
        check_inputs(seq, source.size)
        tasks.append(SequenceTask(seq, target, settings, x3))
    return tasks, done


def dataset_settings(spec: RunSpec, *, device: str | None = None) -> dict:
    """Settings shared by every sequence of a ``vosam dataset`` run with ``spec``, with the
    ``device`` it runs on (default: the spec's, ``auto`` resolved on this machine)."""
    import vosam
    from vosam.devices import device_name

    if device is None:
        device = device_name(spec.device)
    return {"command": "dataset", "version": vosam.__version__, "device": device, **spec.settings()}


def segment_dataset(
    executor: Any,
    sequences: Sequence[DatasetSequence | DavisSequence],
    out: str | Path,
    spec: RunSpec,
    *,
    overwrite: bool = False,
    x3: bool = False,
    show_progress: bool = False,
) -> tuple[list[SequenceOutcome], list[str]]:
    """Segment ``sequences`` into ``out / sequence.output`` on ``executor``, one task per
    sequence (any format of :mod:`vosam.datasets`; ``x3``: the Long-time Video ×3 protocol).

    Returns the outcomes of the sequences run (in order) and the names found complete.
    With the local executor, ``show_progress`` prints per-frame progress; every executor
    prints one line per finished sequence when it is set.

    Raises:
        OutputError: see :func:`plan_dataset`.
    """
    from functools import partial

    from vosam.progress import Progress

    # absolute paths: workers elsewhere may run in another folder
    out = Path(out).absolute()
    sequences = [
        dataclasses.replace(s, frames=s.frames.absolute(), annotations=s.annotations.absolute())
        for s in map(as_dataset_sequence, sequences)
    ]
    # the device decides the masks; on a cluster "auto" is decided by each worker's GPUs
    local = getattr(executor, "name", "") == "local"
    base = dataset_settings(spec, device=None if local else spec.device)
    tasks, done = plan_dataset(sequences, out, base, overwrite=overwrite, x3=x3)
    if not tasks:
        return [], done
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    make = partial(SegmentWorker, spec, show_progress=show_progress and local)
    with Progress(len(tasks), "sequences", enabled=show_progress and not local) as bar:
        try:
            outcomes = executor.run(make, tasks, on_result=lambda i, r: bar.update())
        except BaseException:
            if created and not any(out.iterdir()):
                out.rmdir()  # a run that wrote nothing leaves no folder behind
            raise
    return outcomes, done
