"""A dataset sequence as a task, and the worker that segments it.

A :class:`SequenceTask` is a small, picklable description (paths and the run's settings);
a :class:`~vosam.spec.RunSpec` says which engine and refiner to build.
:class:`SegmentWorker` builds the engine once and then segments any number of sequences.
Each sequence is written into a hidden folder next to its target and renamed into place
only when finished and its manifest (``run.json`` with every file's SHA-256) is written,
so a worker killed half-way leaves no half-written results, and running a task twice is
harmless.
"""

from __future__ import annotations

import glob
import logging
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vosam.datasets.base import DatasetSequence
from vosam.spec import RunSpec

__all__ = [
    "SegmentWorker",
    "SequenceOutcome",
    "SequenceTask",
    "drop_old",
    "hidden_folder",
    "replace_folder",
    "worker_leftovers",
]

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
        partial = hidden_folder(task.target, "partial")
        try:
            count = self._segment(task, source, names, partial)
            replace_folder(partial, task.target)
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


def replace_folder(partial: Path, target: Path) -> None:
    """Move the finished ``partial`` folder to ``target``, replacing what was there.

    Each step is a rename: ``target`` always holds either the old results or the new ones.
    Of the old folder only what its run wrote is removed (:func:`vosam.runs.remove_run`);
    anything else stays in the hidden ``.<name>.old-*`` folder, with a warning.
    """
    old = None
    if target.exists():
        old = hidden_folder(target, "old")
        target.rename(old)
    partial.rename(target)
    if old is not None:
        drop_old(old)


_HIDDEN = re.compile(r"\.(?P<name>.+)\.(?P<kind>partial|old)-[0-9a-f]{8}")


def hidden_folder(target: Path, kind: str) -> Path:
    """A fresh hidden folder beside ``target``: ``.<name>.<kind>-<8 hex>``."""
    return target.parent / f".{target.name}.{kind}-{uuid.uuid4().hex[:8]}"


def worker_leftovers(target: Path) -> list[tuple[str, Path]]:
    """``(kind, folder)`` of the hidden folders workers make beside ``target`` (``partial``:
    being written, ``old``: replaced), told by their exact names; left there, they belong
    to workers that died."""
    parent = Path(target).parent
    if not parent.is_dir():
        return []
    out = []
    for path in sorted(parent.glob(f".{glob.escape(Path(target).name)}.*-????????")):
        match = _HIDDEN.fullmatch(path.name)
        if match is not None and match["name"] == Path(target).name and path.is_dir():
            out.append((match["kind"], path))
    return out


def drop_old(old: Path) -> None:
    """Remove the replaced results folder ``old``: what its run wrote, then the folder
    when nothing else is left in it (else it stays, with a warning)."""
    from vosam.runs import remove_run

    left = remove_run(old)
    if left:
        log.warning("%s: kept %d files no vosam run wrote (%s)", old, len(left), left[0])
        return
    shutil.rmtree(old, ignore_errors=True)
