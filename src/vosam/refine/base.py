"""Promptable segmenters: the one interface every refiner backend implements.

A :class:`PromptableSegmenter` turns prompts on one image (a box, positive/negative points,
a coarse mask) into a mask and a predicted quality score. SAM, HQ-SAM, SAM 2's image
predictor and the embedded segmenter are backends of it, chosen by name through
:func:`vosam.refine.build_segmenter`. Refinement of propagated masks, object discovery and
the web app's clicks all go through it.

A segmenter holds only the loaded model. Per-image work is returned as an opaque
:class:`ImageEmbedding` so one embedding serves every object and prompt of that image, and
one segmenter serves several videos at once.

Coordinates are image pixels of the original frame: ``x`` to the right, ``y`` down.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from vosam.types import Prompt

__all__ = ["ImageEmbedding", "Prediction", "Prompt", "PromptableSegmenter"]


@dataclass(frozen=True)
class Prediction:
    """A segmenter's answer for one prompt.

    Attributes:
        mask: bool ``(H, W)`` at the image's resolution.
        score: predicted quality of ``mask`` (SAM's predicted IoU), in [0, 1].
        logits: float32 ``(H, W)`` mask logits at the image's resolution (> 0 = object);
            can be fed back as ``Prompt.mask`` after a sigmoid.
    """

    mask: np.ndarray
    score: float
    logits: np.ndarray


@dataclass
class ImageEmbedding:
    """One image's features, made by :meth:`PromptableSegmenter.embed`.

    Attributes:
        size: ``(H, W)`` of the original image.
        data: backend-specific content; only the backend that made it reads it.
    """

    size: tuple[int, int]
    data: Any


class PromptableSegmenter(ABC):
    """A loaded promptable model (SAM family or embedded). Holds no per-video state."""

    name: str

    @abstractmethod
    def embed(self, image: np.ndarray) -> ImageEmbedding:
        """Features of ``image``: ``uint8 (H, W, 3)`` RGB."""

    @abstractmethod
    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        """Segment one object of the embedded image from ``prompt``."""

    @property
    @abstractmethod
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``."""

    def segment(self, image: np.ndarray, prompt: Prompt) -> Prediction:
        """:meth:`embed` then :meth:`predict`, for a single prompt."""
        return self.predict(self.embed(image), prompt)
