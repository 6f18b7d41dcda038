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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vosam.playback import DIRECTIONS, MERGES
from vosam.types import StepResult, confidence_of

__all__ = [
    "DIRECTIONS",
    "MERGES",
    "BothPlan",
    "HeldResults",
    "held",
    "merge_by_confidence",
    "nearer_pass",
]


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


@dataclass(frozen=True)
class BothPlan:
    """What a run of both directions over frames ``start..stop-1`` plays, and how it makes
    one result per frame.

    The backward pass plays ``backward`` (from the last given frame, or ``stop - 1``, down
    to ``start``), the forward pass ``forward`` (from the first given frame, or ``start``,
    up to ``stop - 1``); every frame is in at least one.

    Attributes:
        start, stop: the frames of the run.
        given: the annotated or prompted frames (any position), increasing.
        backward_end: the backward pass plays ``backward_end - 1`` down to ``start``.
        forward_from: the forward pass plays ``forward_from`` up to ``stop - 1``.
    """

    start: int
    stop: int
    given: tuple[int, ...]
    backward_end: int
    forward_from: int

    @classmethod
    def of(cls, start: int, stop: int, given: Sequence[int]) -> BothPlan:
        """The plan for frames ``start..stop-1`` of a video annotated on ``given``."""
        given = tuple(sorted(set(given)))
        if not given:
            raise ValueError("a run of both directions needs an annotated frame")
        backward_end = max(min(stop, given[-1] + 1), start)
        forward_from = min(max(start, given[0]), stop)
        return cls(start, stop, given, backward_end, forward_from)

    @property
    def backward(self) -> range:
        """The frames the backward pass plays, in its order."""
        return range(self.backward_end - 1, self.start - 1, -1)

    @property
    def forward(self) -> range:
        """The frames the forward pass plays, in its order."""
        return range(self.forward_from, self.stop)

    @property
    def total(self) -> int:
        """Frames played by both passes together."""
        return len(self.backward) + len(self.forward)

    def uses_backward(self, index: int, merge: str) -> bool:
        """Whether frame ``index``'s result takes the backward pass's into account."""
        if index < self.forward_from:
            return True
        if index >= self.backward_end or index in self.given:  # forward only, or its input
            return False
        return merge == "confidence" or nearer_pass(index, self.given) == "backward"

    def combine(
        self,
        index: int,
        forward: StepResult | None,
        backward: StepResult | None,
        merge: str,
    ) -> StepResult:
        """Frame ``index``'s result from the passes' (None where a pass did not play it or
        its result is not needed, see :meth:`uses_backward`)."""
        if merge not in MERGES:
            raise ValueError(f"merge is one of {', '.join(MERGES)}, not {merge!r}")
        if not self.uses_backward(index, merge):
            return forward
        if forward is None or merge == "nearest":
            return backward
        return merge_by_confidence(forward, backward)


def held(result: StepResult) -> StepResult:
    """``result`` as :class:`HeldResults` gives it back (probabilities through float16)."""
    probs = result.probs.astype(np.float16).astype(np.float32)
    return StepResult(probs, result.object_ids, result.confidence.copy())


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
