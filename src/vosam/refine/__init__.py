"""Refinement of masks by promptable segmenters chosen by name.

``build_segmenter("embedded")`` needs no download; ``sam``, ``sam-hq`` and ``sam2`` load
official checkpoints through their extras, imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable

from vosam import registry
from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter


def available_segmenters() -> tuple[str, ...]:
    """Names accepted by :func:`build_segmenter`."""
    return tuple(sorted(registry.names("segmenter")))


def register_segmenter(name: str, target: str, *, model_arg: str | None = None) -> None:
    """Register ``"module:function"`` as the builder of segmenter ``name`` (``model_arg``:
    its argument choosing a model variant, if any)."""
    registry.register("segmenter", name, target, model_arg=model_arg)


def build_segmenter(name: str, **kwargs: object) -> PromptableSegmenter:
    """Build the promptable segmenter called ``name`` (see :func:`available_segmenters`).

    Keyword arguments go to the backend's builder (``checkpoint``, ``model_type``,
    ``device``...).
    """
    builder: Callable[..., PromptableSegmenter] = registry.load("segmenter", name, noun="refiner")
    return builder(**kwargs)


__all__ = [
    "ImageEmbedding",
    "Prediction",
    "Prompt",
    "PromptableSegmenter",
    "available_segmenters",
    "build_segmenter",
    "register_segmenter",
]
