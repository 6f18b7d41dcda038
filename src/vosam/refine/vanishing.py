"""Detecting vanishing or degrading masks, and the per-video history it needs.

A propagated mask is *degrading* when, compared with the object's recent accepted frames,
its area collapses, its propagation confidence drops, or it breaks into more pieces. It has
*vanished* when it is (nearly) empty although the object had a good mask before. The history
lives in :class:`ObjectHistory`, one per object, owned by the per-video
:class:`~vosam.refine.refiner.RefineState`, never by the refiner.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class VanishingConfig:
    """When a mask counts as vanishing or degrading.

    Attributes:
        history: number of recent frames compared against.
        area_ratio: degrading when the area falls below this fraction of the recent median.
        confidence_drop: degrading when the confidence falls this much below the recent median.
        extra_fragments: degrading when the mask has this many more components (of at least
            ``min_area`` pixels) than the recent median.
        min_area: smallest component counted, and the area below which a mask has vanished.
    """

    history: int = 5
    area_ratio: float = 0.6
    confidence_drop: float = 0.15
    extra_fragments: int = 2
    min_area: int = 20


@dataclass
class ObjectHistory:
    """Recent measurements of one object and its last good appearance.

    Attributes:
        areas, confidences, fragments: measurements of recent frames, newest last.
        last_mask: bool ``(H, W)`` of the last frame the object was seen with a good mask.
        last_index: frame index of ``last_mask``.
    """

    areas: deque = field(default_factory=deque)
    confidences: deque = field(default_factory=deque)
    fragments: deque = field(default_factory=deque)
    last_mask: np.ndarray | None = None
    last_index: int | None = None

    def push(self, area: int, confidence: float, fragments: int, limit: int) -> None:
        for values, v in (
            (self.areas, area),
            (self.confidences, confidence),
            (self.fragments, fragments),
        ):
            values.append(v)
            while len(values) > limit:
                values.popleft()


def count_fragments(mask: np.ndarray, min_area: int) -> int:
    """Number of 8-connected components of ``mask (H, W) bool`` with ≥ ``min_area`` pixels."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return 0
    return int((np.bincount(labels.ravel())[1:] >= min_area).sum())


def degradation(
    history: ObjectHistory, area: int, confidence: float, fragments: int, cfg: VanishingConfig
) -> str | None:
    """Why the current measurement looks like a vanishing/degrading mask, or None.

    Returns one of ``"vanished"``, ``"area"``, ``"confidence"``, ``"fragments"``. Needs at
    least one earlier measurement.
    """
    if not history.areas:
        return None
    ref_area = float(np.median(history.areas))
    if area < cfg.min_area:
        return "vanished" if ref_area >= cfg.min_area else None
    if area < cfg.area_ratio * ref_area:
        return "area"
    if confidence < float(np.median(history.confidences)) - cfg.confidence_drop:
        return "confidence"
    if fragments >= float(np.median(history.fragments)) + cfg.extra_fragments:
        return "fragments"
    return None
