"""Running per-sequence work on a pool of workers: in this process or on a Ray cluster.

Public API:

- :func:`build_executor` (``"local"`` or ``"ray"``), :class:`Executor`: run one task per
  sequence, the model loaded once per worker;
- :class:`~vosam.spec.RunSpec`, :class:`SequenceTask`, :class:`SegmentWorker`, :func:`plan_dataset`,
  :func:`segment_dataset`: segment a DAVIS-layout dataset, each sequence written atomically
  and verified on a re-run;
- :func:`evaluate_dataset_with`: the DAVIS/LVOS evaluation, one task per sequence;
- :func:`run_sweep`, :func:`load_sweep`: several configurations over one dataset, one
  comparison table.

``ray`` is imported only by the ``ray`` backend.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from vosam.distributed.base import (
    Executor,
    Failure,
    Worker,
    available_executors,
    build_executor,
    register_executor,
)

_LAZY = {
    "RunSpec": "vosam.spec",
    "SequenceTask": "vosam.distributed.worker",
    "SequenceOutcome": "vosam.distributed.worker",
    "SegmentWorker": "vosam.distributed.worker",
    "plan_dataset": "vosam.distributed.plan",
    "segment_dataset": "vosam.distributed.segment",
    "evaluate_dataset_with": "vosam.distributed.evaluate",
    "SweepRun": "vosam.distributed.sweep",
    "load_sweep": "vosam.distributed.sweep",
    "run_sweep": "vosam.distributed.sweep",
    "RayOptions": "vosam.distributed.ray_backend",
}

__all__ = [
    "Executor",
    "Failure",
    "Worker",
    "available_executors",
    "build_executor",
    "register_executor",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vosam.distributed' has no attribute {name!r}")
