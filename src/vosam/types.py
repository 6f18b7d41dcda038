"""Values that the engines and the refiners both exchange, in a module neither owns.

:class:`Prompt` says what a user or a strategy asks for one object on one image;
:class:`StepResult` is what a tracker (or a refiner after it) gives for one frame, with the
probability helpers over it. Only numpy is needed here, so both layers, the session and the
run writers import this module without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Prompt",
    "StepResult",
    "confidence_of",
    "ids_from_probs",
    "onehot",
    "winners",
]


@dataclass(frozen=True)
class Prompt:
    """Prompts for one object on one image. At least one field must be set.

    Attributes:
        box: float32 ``(4,)`` ``x0, y0, x1, y1``: pixel extents, both corners inclusive
            (a one-pixel object at (x, y) has box ``(x, y, x, y)``).
        points: float32 ``(P, 2)`` ``(x, y)`` pixel coordinates.
        labels: int32 ``(P,)``: 1 = positive (on the object), 0 = negative (not on it).
        mask: float32 ``(H, W)`` foreground probability in [0, 1] at the image's resolution
            (a propagated mask, or a previous prediction); backends convert it to their own
            mask-prompt format.
    """

    box: np.ndarray | None = None
    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.box is None and self.points is None and self.mask is None:
            raise ValueError("a prompt needs a box, points or a mask")
        if (self.points is None) != (self.labels is None):
            raise ValueError("points and labels go together")
        if self.points is not None and len(self.points) != len(self.labels):
            raise ValueError(
                f"{len(self.points)} points but {len(self.labels)} labels in the prompt"
            )


@dataclass(frozen=True)
class StepResult:
    """What a tracker returns for one frame.

    Attributes:
        probs: float32 ``(N + 1, H, W)`` probabilities at the frame's resolution, background
            first, then ``object_ids`` in order. Columns sum to 1.
        object_ids: the user ids of the ``N`` objects, increasing.
        confidence: float32 ``(N,)`` per-object confidence in [0, 1] (mean of the winning
            probability over the object's predicted pixels; 0 for an empty mask).
        redetected: the objects whose mask on this frame comes from re-detection by the
            engine's appearance model rather than from propagation (the propagated mask
            had drifted or vanished); their confidence is the detection's.
    """

    probs: np.ndarray
    object_ids: tuple[int, ...]
    confidence: np.ndarray
    redetected: tuple[int, ...] = ()

    @property
    def mask(self) -> np.ndarray:
        """``uint8 (H, W)`` mask of user ids: the argmax of ``probs``."""
        return ids_from_probs(self.probs, self.object_ids)


def winners(probs: np.ndarray) -> np.ndarray:
    """``uint8 (H, W)`` index of the largest of ``probs (N + 1, H, W)`` per pixel, ties to the
    lower index: ``np.argmax(probs, axis=0)`` without its pixel-major copy of the maps
    (several times slower at full resolution)."""
    best = probs[0].copy()
    winner = np.zeros(probs.shape[1:], np.uint8)
    for k in range(1, probs.shape[0]):
        np.copyto(winner, k, where=probs[k] > best)
        np.maximum(best, probs[k], out=best)
    return winner


def ids_from_probs(probs: np.ndarray, object_ids: tuple[int, ...]) -> np.ndarray:
    """Argmax over ``probs (N + 1, H, W)`` mapped to user ids: ``uint8 (H, W)``."""
    lut = np.array((0, *object_ids), dtype=np.uint8)
    return lut[winners(probs)]


def confidence_of(probs: np.ndarray) -> np.ndarray:
    """Per-object confidence ``(N,)`` from ``probs (N + 1, H, W)``.

    Mean probability of the object over the pixels it wins; 0 where it wins none.
    """
    winner = winners(probs)
    out = np.zeros(probs.shape[0] - 1, dtype=np.float32)
    for k in range(1, probs.shape[0]):
        wins = (winner == k).ravel()
        count = np.count_nonzero(wins)
        if count:
            out[k - 1] = np.dot(probs[k].ravel(), wins.astype(probs.dtype)) / count
    return out


def onehot(mask: np.ndarray, object_ids: tuple[int, ...]) -> np.ndarray:
    """``float32 (N + 1, H, W)`` one-hot probabilities of ``mask`` over ``(0, *object_ids)``.

    Pixels whose id is not in ``object_ids`` (e.g. 255 void) count as background.
    """
    ids = np.asarray(object_ids, dtype=np.int64)
    fg = mask[None].astype(np.int64) == ids[:, None, None]
    bg = ~fg.any(axis=0, keepdims=True)
    return np.concatenate([bg, fg], axis=0).astype(np.float32)
