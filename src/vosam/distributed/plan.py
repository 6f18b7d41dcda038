"""The driver's side of segmenting a dataset: which sequences to run, and their settings.

:func:`plan_dataset` skips sequences whose output is complete (verified against the
recorded digests), refuses folders of another run or overlapping an input, clears the
leftovers of killed workers and reads every input annotation before any work; it returns
the :class:`~vosam.distributed.worker.SequenceTask` of each sequence left to run.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from vosam.datasets.base import DatasetSequence
from vosam.datasets.davis import DavisSequence
from vosam.distributed.worker import SequenceTask, drop_old, worker_leftovers
from vosam.spec import RunSpec

__all__ = [
    "as_dataset_sequence",
    "check_inputs",
    "check_targets",
    "dataset_settings",
    "plan_dataset",
    "sequence_settings",
]

log = logging.getLogger(__name__)


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


def check_targets(sequences: Sequence[DatasetSequence], out: Path) -> None:
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
    Hidden leftovers of workers that died (``.<seq>.partial-<8 hex>``,
    ``.<seq>.old-<8 hex>``) are removed; call this only holding the lock of ``out`` (see
    :func:`~vosam.distributed.segment.segment_dataset`), so that no live worker writes them.

    Raises:
        OutputError: a sequence folder holds results of another run and not ``overwrite``,
            holds other files, or overlaps an input.
        MaskError: an input annotation is unreadable, of another size, or has no object.
    """
    from vosam.datasets.runner import output_names
    from vosam.io import FolderSource
    from vosam.runs import check_output

    sequences = [as_dataset_sequence(s) for s in sequences]
    check_targets(sequences, out)
    tasks, done = [], []
    for seq in sequences:
        settings = sequence_settings(base, seq, x3=x3)
        target = out / seq.output
        source = FolderSource(seq.frames)
        names = output_names(seq, source)
        for kind, stale in worker_leftovers(target):
            if kind == "partial":
                shutil.rmtree(stale, ignore_errors=True)
            else:
                drop_old(stale)
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
