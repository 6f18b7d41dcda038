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


def build_segmenter(
    name: str | None = None, *, model: str | None = None, **kwargs: object
) -> PromptableSegmenter:
    """Build the promptable segmenter called ``name`` (see :func:`available_segmenters`).

    ``model``: a named model of :mod:`vosam.models` (``sam-vit-b``, ``sam-hq-vit-tiny``,
    ``sam2.1-hiera-tiny``), fetched once into the cache and checked before loading; it gives
    the segmenter (``name`` may be left out), the checkpoint and the model variant. Other
    keyword arguments go to the backend's builder (``checkpoint``, ``model_type``,
    ``device``...).
    """
    if model is not None:
        from vosam.errors import ModelError
        from vosam.models import builder_kwargs, entry_for

        if "checkpoint" in kwargs:
            raise ModelError("give a named model or a checkpoint file, not both")
        name = entry_for(model, "segmenter", name).backend
        kwargs.update(builder_kwargs(model, "segmenter"))
    if name is None:
        raise ValueError("name a segmenter or a model")
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
