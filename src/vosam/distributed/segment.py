"""Segmenting a dataset one sequence per task on an executor.

:func:`segment_dataset` plans the run (:mod:`vosam.distributed.plan`) and gives each
sequence left to a :class:`~vosam.distributed.worker.SegmentWorker` of the executor. The
names of both modules are importable from here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vosam.datasets.base import DatasetSequence
from vosam.datasets.davis import DavisSequence
from vosam.distributed.plan import (
    as_dataset_sequence,
    check_inputs,
    check_targets,
    dataset_settings,
    plan_dataset,
    sequence_settings,
)
from vosam.distributed.worker import SegmentWorker, SequenceOutcome, SequenceTask
from vosam.spec import RunSpec

__all__ = [
    "SegmentWorker",
    "SequenceOutcome",
    "SequenceTask",
    "as_dataset_sequence",
    "check_inputs",
    "check_targets",
    "dataset_settings",
    "plan_dataset",
    "segment_dataset",
    "sequence_settings",
]


def segment_dataset(
    executor: Any,
    sequences: Sequence[DatasetSequence | DavisSequence],
    out: str | Path,
    spec: RunSpec,
    *,
    overwrite: bool = False,
    x3: bool = False,
    show_progress: bool = False,
    wait: bool = False,
    lock: bool = True,
) -> tuple[list[SequenceOutcome], list[str]]:
    """Segment ``sequences`` into ``out / sequence.output`` on ``executor``, one task per
    sequence (any format of :mod:`vosam.datasets`; ``x3``: the Long-time Video ×3 protocol).

    Returns the outcomes of the sequences run (in order) and the names found complete.
    With the local executor, ``show_progress`` prints per-frame progress; every executor
    prints one line per finished sequence when it is set.

    The run holds the lock of ``out`` (:mod:`vosam.runs.lock`) from its plan to its end, so
    two runs into one folder never meet: the second is refused, or waits with ``wait``.
    ``lock=False``: the caller holds it already.

    Raises:
        OutputBusy: another run holds the lock of ``out`` and ``wait`` is False.
        OutputError: see :func:`plan_dataset`.
    """
    from contextlib import nullcontext
    from functools import partial

    from vosam.progress import Progress
    from vosam.runs import locked_outputs

    # absolute paths: workers elsewhere may run in another folder
    out = Path(out).absolute()
    sequences = [
        dataclasses.replace(s, frames=s.frames.absolute(), annotations=s.annotations.absolute())
        for s in map(as_dataset_sequence, sequences)
    ]
    # the device decides the masks; on a cluster "auto" is decided by each worker's GPUs
    local = getattr(executor, "name", "") == "local"
    base = dataset_settings(spec, device=None if local else spec.device)
    # the lock's folder is removed again when the run wrote nothing into it
    held = locked_outputs(out, wait=wait, command="dataset") if lock else nullcontext()
    with held:
        tasks, done = plan_dataset(sequences, out, base, overwrite=overwrite, x3=x3)
        if not tasks:
            return [], done
        out.mkdir(parents=True, exist_ok=True)
        make = partial(SegmentWorker, spec, show_progress=show_progress and local)
        with Progress(len(tasks), "sequences", enabled=show_progress and not local) as bar:
            outcomes = executor.run(make, tasks, on_result=lambda i, r: bar.update())
    return outcomes, done
