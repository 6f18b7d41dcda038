"""Typed results of an evaluation: per object, per sequence, per dataset."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from vosam.eval.stats import Stats, stability, summarize

__all__ = [
    "SUMMARY_KEYS",
    "DatasetResult",
    "ObjectResult",
    "SequenceResult",
    "summary_of",
]

SUMMARY_KEYS: tuple[str, ...] = (
    "J&F-Mean",
    "J-Mean",
    "J-Recall",
    "J-Decay",
    "F-Mean",
    "F-Recall",
    "F-Decay",
)
"""Keys of :attr:`DatasetResult.summary`, in the order the DAVIS benchmark prints them."""


def _frozen_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class ObjectResult:
    """Scores of one object over the frames it is scored on.

    Attributes:
        sequence: name of its sequence.
        object_id: its ground-truth id.
        frames: names of the scored frames (T of them), in order.
        j: float64 (T,) per-frame region similarity.
        f: float64 (T,) per-frame boundary measure.
        j_stats: mean, recall and decay of ``j``.
        f_stats: mean, recall and decay of ``f``.
        stability: V, the population std of (J + F) / 2 over frames.
        matched_id: unsupervised protocol: the predicted id matched to this object.
        reference_frame: the annotated frame the object starts from (not scored).
    """

    sequence: str
    object_id: int
    frames: tuple[str, ...]
    j: np.ndarray
    f: np.ndarray
    j_stats: Stats
    f_stats: Stats
    stability: float
    matched_id: int | None = None
    reference_frame: str | None = None

    @classmethod
    def from_scores(
        cls,
        sequence: str,
        object_id: int,
        frames: Sequence[str],
        j: Sequence[float] | np.ndarray,
        f: Sequence[float] | np.ndarray,
        *,
        matched_id: int | None = None,
        reference_frame: str | None = None,
    ) -> ObjectResult:
        """Build the result from per-frame J (T,) and F (T,), computing the statistics."""
        j_arr, f_arr = _frozen_array(j), _frozen_array(f)
        if not (len(frames) == j_arr.size == f_arr.size):
            raise ValueError("frames, J and F must have the same length")
        return cls(
            sequence=sequence,
            object_id=int(object_id),
            frames=tuple(frames),
            j=j_arr,
            f=f_arr,
            j_stats=summarize(j_arr),
            f_stats=summarize(f_arr),
            stability=stability(j_arr, f_arr),
            matched_id=matched_id,
            reference_frame=reference_frame,
        )

    @property
    def scored(self) -> bool:
        """Whether at least one frame was scored (objects without any are left out of means)."""
        return len(self.frames) > 0

    @property
    def jf_mean(self) -> float:
        return (self.j_stats.mean + self.f_stats.mean) / 2


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return float(np.mean(vals)) if vals else math.nan


@dataclass(frozen=True, eq=False)
class SequenceResult:
    """All objects of one sequence.

    Attributes:
        name: the sequence's name.
        protocol: the protocol it was scored with.
        objects: one result per ground-truth object, in id order.
        category: LVOS: ``"seen"`` or ``"unseen"``; otherwise None.
    """

    name: str
    protocol: str
    objects: tuple[ObjectResult, ...]
    category: str | None = None

    @property
    def j_mean(self) -> float:
        return _mean(o.j_stats.mean for o in self.objects if o.scored)

    @property
    def f_mean(self) -> float:
        return _mean(o.f_stats.mean for o in self.objects if o.scored)

    @property
    def jf_mean(self) -> float:
        return (self.j_mean + self.f_mean) / 2


def summary_of(objects: Iterable[ObjectResult]) -> dict[str, float]:
    """The dataset figures: means over all scored objects, each object weighing the same."""
    scored = [o for o in objects if o.scored]
    j_mean = _mean(o.j_stats.mean for o in scored)
    f_mean = _mean(o.f_stats.mean for o in scored)
    return {
        "J&F-Mean": (j_mean + f_mean) / 2,
        "J-Mean": j_mean,
        "J-Recall": _mean(o.j_stats.recall for o in scored),
        "J-Decay": _mean(o.j_stats.decay for o in scored),
        "F-Mean": f_mean,
        "F-Recall": _mean(o.f_stats.recall for o in scored),
        "F-Decay": _mean(o.f_stats.decay for o in scored),
    }


@dataclass(frozen=True, eq=False)
class DatasetResult:
    """A whole evaluation.

    Attributes:
        protocol: the protocol used.
        sequences: per-sequence results, in evaluation order.
        summary: exactly the keys of :data:`SUMMARY_KEYS`, as fractions (not percent).
        extra: further figures of the protocol (LVOS: seen/unseen means and V).
    """

    protocol: str
    sequences: tuple[SequenceResult, ...]
    summary: dict[str, float]
    extra: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # plain dicts (JSON-serialisable), copied so the caller's dicts are not shared
        object.__setattr__(self, "summary", dict(self.summary))
        object.__setattr__(self, "extra", dict(self.extra))

    @property
    def objects(self) -> Iterator[ObjectResult]:
        for seq in self.sequences:
            yield from seq.objects

    def sequence(self, name: str) -> SequenceResult:
        for seq in self.sequences:
            if seq.name == name:
                return seq
        raise KeyError(name)
