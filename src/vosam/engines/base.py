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

from vosam.types import (
    Prompt,
    StepResult,
    confidence_of,
    ids_from_probs,
    onehot,
    winners,
)

__all__ = [
    "KeyFeatures",
    "Prompt",
    "Propagator",
    "StepResult",
    "Tracker",
    "check_pair",
    "confidence_of",
    "ids_from_probs",
    "onehot",
    "winners",
]


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

    def add_prompt(
        self, index: int, image: np.ndarray, object_id: int, prompt: Prompt
    ) -> np.ndarray:
        """Condition ``object_id`` on frame ``index`` from a click/box/mask ``prompt``;
        returns the object's ``float32 (H, W)`` probability on that frame.

        Only trackers with :attr:`takes_prompts` implement it.

        Args:
            index: frame index in the video.
            image: ``uint8 (H, W, 3)`` RGB of that frame.
            object_id: user id, 1..254; a new id becomes a new object.
            prompt: in the frame's pixel coordinates.

        Raises:
            NotImplementedError: the engine takes masks only.
        """
        raise NotImplementedError(
            f"the {type(self).__name__} tracker takes no click or box prompts; give it masks"
        )


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


def check_pair(image: np.ndarray, mask: np.ndarray) -> None:
    """Refuse a frame that is not ``uint8 (H, W, 3)`` or a mask of another size.

    Raises:
        ValueError: naming the shapes.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(
            f"mask is {mask.shape[1]}×{mask.shape[0]} but the frame is "
            f"{image.shape[1]}×{image.shape[0]}"
        )
