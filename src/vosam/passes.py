"""Two propagation passes over one video made into one result per frame.

A video annotated on a few frames is propagated backward and forward
(``Session.propagate(direction="both")``). Frames before the first annotated frame have only
the backward pass, frames after the last only the forward pass; a frame between two
annotated frames has both, and a merge rule picks its result:

- ``nearest``: the pass coming from the nearer annotated frame (the forward pass on a tie,
  and on the annotated frames themselves);
- ``confidence``: both passes' probabilities averaged pixel by pixel, each weighted by its
  own confidence there (its largest probability over background and objects).

The backward pass runs first and its results wait in :class:`HeldResults` until the forward
pass reaches their frames: as float16, in memory up to a budget, beyond it in files of a
temporary folder that is removed when the run ends.
"""

from __future__ import annotations

import bisect
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vosam.types import StepResult, confidence_of

__all__ = ["DIRECTIONS", "MERGES", "HeldResults", "merge_by_confidence", "nearer_pass"]

DIRECTIONS = ("forward", "backward", "both")
"""What ``Session.propagate(direction=...)`` takes."""

MERGES = ("nearest", "confidence")
"""The merge rules of frames between two annotated frames (see the module's text)."""


def nearer_pass(index: int, annotated: Sequence[int]) -> str:
    """``"forward"`` or ``"backward"``: the pass that reaches frame ``index`` from the
    nearer of ``annotated`` (sorted frame indices). Forward on a tie and on an annotated
    frame; backward before the first annotated frame, forward after the last."""
    k = bisect.bisect_right(annotated, index)
    if k == 0:
        return "backward"
    if k == len(annotated):
        return "forward"
    before, after = annotated[k - 1], annotated[k]
    return "forward" if index - before <= after - index else "backward"


def merge_by_confidence(forward: StepResult, backward: StepResult) -> StepResult:
    """Pixel by pixel, the average of the two passes' probabilities weighted by each one's
    confidence there (its largest probability): ``(w_f·P_f + w_b·P_b) / (w_f + w_b)``.

    Both results must hold the same objects in the same order.
    """
    if forward.object_ids != backward.object_ids:
        raise ValueError(f"the passes hold objects {forward.object_ids} and {backward.object_ids}")
    pf = forward.probs.astype(np.float32, copy=False)
    pb = backward.probs.astype(np.float32, copy=False)
    wf = pf.max(axis=0)
    wb = pb.max(axis=0)
    total = np.maximum(wf + wb, 1e-7)
    probs = (pf * (wf / total) + pb * (wb / total)).astype(np.float32)
    return StepResult(probs, forward.object_ids, confidence_of(probs))


class HeldResults:
    """Per-frame results kept until asked for once: probabilities as float16, in memory up
    to ``max_bytes``, the rest in ``.npy`` files of a temporary folder (made when first
    needed, removed by :meth:`close`).

    ``with HeldResults(256 << 20) as held: held.put(i, result); ...; held.pop(i)``
    """

    def __init__(self, max_bytes: int, *, folder: str | Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.parent = folder
        self.in_memory = 0
        self._memory: dict[int, np.ndarray] = {}
        self._meta: dict[int, tuple[tuple[int, ...], np.ndarray]] = {}
        self._folder: Path | None = None

    def __contains__(self, index: int) -> bool:
        return index in self._meta

    def __len__(self) -> int:
        return len(self._meta)

    @property
    def spilled(self) -> int:
        """How many results are held on disk."""
        return len(self._meta) - len(self._memory)

    def put(self, index: int, result: StepResult) -> None:
        probs = result.probs.astype(np.float16)
        self._meta[index] = (result.object_ids, result.confidence.copy())
        if self.in_memory + probs.nbytes <= self.max_bytes:
            self._memory[index] = probs
            self.in_memory += probs.nbytes
            return
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="vosam-pass-", dir=self.parent))
        np.save(self._folder / f"{index}.npy", probs)

    def pop(self, index: int) -> StepResult:
        object_ids, confidence = self._meta.pop(index)
        probs = self._memory.pop(index, None)
        if probs is not None:
            self.in_memory -= probs.nbytes
        else:
            file = self._folder / f"{index}.npy"
            probs = np.load(file)
            file.unlink()
        return StepResult(probs.astype(np.float32), object_ids, confidence)

    def close(self) -> None:
        self._memory.clear()
        self._meta.clear()
        self.in_memory = 0
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> HeldResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
