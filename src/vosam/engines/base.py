"""The propagator interface shared by every engine (embedded, xmem, sam2).

A :class:`Propagator` holds the shared, read-only model. Per-video state lives in a
:class:`Tracker` made by :meth:`Propagator.new_tracker`, so one loaded model serves many
videos at once. Trackers never read files: frames and masks come in as arrays.

Conventions (see ARCHITECTURE.md):

- images are ``uint8`` arrays ``(H, W, 3)`` in RGB order;
- masks are ``uint8`` arrays ``(H, W)`` holding user object ids (0 = background);
- probabilities are ``float32`` arrays ``(N + 1, H, W)``: background first, then the tracked
  objects in increasing id order (``StepResult.object_ids``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch


@dataclass(frozen=True)
class StepResult:
    """What a tracker returns for one frame.

    Attributes:
        probs: float32 ``(N + 1, H, W)`` probabilities at the frame's resolution, background
            first, then ``object_ids`` in order. Columns sum to 1.
        object_ids: the user ids of the ``N`` objects, increasing.
        confidence: float32 ``(N,)`` per-object confidence in [0, 1] (mean of the winning
            probability over the object's predicted pixels; 0 for an empty mask).
    """

    probs: np.ndarray
    object_ids: tuple[int, ...]
    confidence: np.ndarray

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


class Tracker(ABC):
    """Per-video state of one engine: memory, object slots, caches.

    The caller (usually :class:`vosam.session.Session`) drives it frame by frame in the order
    it wants (forward or backward), passing frame indices so that the tracker can cache
    per-frame features.

    Attributes:
        takes_prompts: the tracker segments click/box prompts itself, through
            ``add_prompt(index, image, object_id, prompt)`` (SAM 2); for the others the
            session turns prompts into masks with a promptable segmenter.
    """

    takes_prompts: ClassVar[bool] = False

    @property
    @abstractmethod
    def object_ids(self) -> tuple[int, ...]:
        """User ids of the objects tracked so far, increasing."""

    @abstractmethod
    def add_permanent(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Encode an annotated frame into permanent memory (XMem++), before propagation.

        Args:
            index: frame index in the video.
            image: ``uint8 (H, W, 3)`` RGB.
            mask: ``uint8 (H, W)`` user ids; ids not seen before become new objects.
        """

    @abstractmethod
    def step(
        self, index: int, image: np.ndarray, *, annotation: np.ndarray | None = None
    ) -> StepResult:
        """Segment frame ``index``.

        With ``annotation`` (``uint8 (H, W)`` user ids), the frame is taken as ground truth:
        new ids become objects, the annotation is written into memory, and the result is the
        annotation itself as one-hot probabilities. Objects tracked before but absent from
        the annotation are kept (absent on this frame).
        """

    @abstractmethod
    def feedback(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Write a corrected mask for an already propagated frame into working memory.

        Used by refiners whose accepted masks should steer later frames.
        """

    @abstractmethod
    def remove_object(self, object_id: int) -> None:
        """Stop tracking ``object_id``; the other objects' ids are unchanged."""


@dataclass(frozen=True)
class KeyFeatures:
    """An engine's matching features of one frame, at the engine's own stride.

    Attributes:
        key: float32 ``(C_k, h, w)`` torch tensor.
        shrinkage: ``(1, h, w)`` or None (= 1), memory-side scale of the similarity.
        selection: ``(C_k, h, w)`` or None (= 1), query-side channel weights.
    """

    key: torch.Tensor
    shrinkage: torch.Tensor | None = None
    selection: torch.Tensor | None = None


class Propagator(ABC):
    """A loaded model that makes trackers. Chosen by name through :mod:`vosam.engines`."""

    name: str

    @abstractmethod
    def encode_key(self, image: np.ndarray) -> KeyFeatures:
        """Matching features of ``image (H, W, 3) uint8`` (used by frame suggestion)."""

    @abstractmethod
    def new_tracker(self) -> Tracker:
        """Fresh per-video state for this model."""

    @property
    @abstractmethod
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``."""


def onehot(mask: np.ndarray, object_ids: tuple[int, ...]) -> np.ndarray:
    """``float32 (N + 1, H, W)`` one-hot probabilities of ``mask`` over ``(0, *object_ids)``.

    Pixels whose id is not in ``object_ids`` (e.g. 255 void) count as background.
    """
    ids = np.asarray(object_ids, dtype=np.int64)
    fg = mask[None].astype(np.int64) == ids[:, None, None]
    bg = ~fg.any(axis=0, keepdims=True)
    return np.concatenate([bg, fg], axis=0).astype(np.float32)
