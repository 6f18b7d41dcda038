"""Refinement of masks by promptable segmenters chosen by name.

``build_segmenter("embedded")`` needs no download; ``sam``, ``sam-hq`` and ``sam2`` load
official checkpoints through their extras, imported lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter

# name -> "module:function" building a PromptableSegmenter from keyword arguments
_BUILDERS: dict[str, str] = {
    "embedded": "vosam.refine.embedded:build_embedded_segmenter",
    "sam": "vosam.refine.sam:build_sam_segmenter",
    "sam-hq": "vosam.refine.sam:build_sam_hq_segmenter",
    "sam2": "vosam.refine.sam2_image:build_sam2_segmenter",
}


def available_segmenters() -> tuple[str, ...]:
    """Names accepted by :func:`build_segmenter`."""
    return tuple(sorted(_BUILDERS))


def register_segmenter(name: str, target: str) -> None:
    """Register ``"module:function"`` as the builder of segmenter ``name``."""
    _BUILDERS[name] = target


def build_segmenter(name: str, **kwargs: object) -> PromptableSegmenter:
    """Build the promptable segmenter called ``name`` (see :func:`available_segmenters`).

    Keyword arguments go to the backend's builder (``checkpoint``, ``model_type``,
    ``device``...).
    """
    if name not in _BUILDERS:
        raise ValueError(
            f"unknown refiner {name!r}; choose one of {', '.join(available_segmenters())}"
        )
    module, func = _BUILDERS[name].split(":")
    builder: Callable[..., PromptableSegmenter] = getattr(import_module(module), func)
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
