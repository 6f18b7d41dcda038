"""Click/box prompts turned into masks, for engines that only take masks.

An engine that segments prompts itself (SAM 2, ``Tracker.takes_prompts``) gets them as
they are. For the others (embedded, XMem) a :class:`~vosam.refine.base.PromptableSegmenter`
turns each frame's prompts into one mask of object ids, which then counts as that frame's
annotation of those objects (:func:`merge_annotation`).

Where prompt masks of two objects overlap, the object with the larger logit wins the pixel;
an annotated (drawn) object of the same frame wins over every prompt, and void (255) stays
void.
"""

from __future__ import annotations

import logging

import numpy as np

from vosam.objects import MAX_OBJECT_ID
from vosam.refine.base import Prediction, Prompt, PromptableSegmenter

log = logging.getLogger(__name__)


def prompt_problem(prompt: Prompt, size: tuple[int, int]) -> str | None:
    """What is wrong with ``prompt`` on a frame of ``size (H, W)``, or None.

    A box must lie inside the frame (pixel extents ``0..W-1``, ``0..H-1``, corners
    inclusive) with ``x1 > x0`` and ``y1 > y0``; clicks must lie inside the frame.
    """
    h, w = size
    if prompt.box is not None:
        box = np.asarray(prompt.box, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.isfinite(box).all():
            return "a box is four numbers x0,y0,x1,y1"
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            return f"box {_numbers(box)} has zero area (needs x1 > x0 and y1 > y0)"
        if x0 < 0 or y0 < 0 or x1 > w - 1 or y1 > h - 1:
            return f"box {_numbers(box)} is outside the {w}×{h} frame (x 0..{w - 1}, y 0..{h - 1})"
    if prompt.points is not None:
        points = np.asarray(prompt.points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
            return "clicks are x,y pairs"
        for x, y in points:
            if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
                return (
                    f"click {_numbers((x, y))} is outside the {w}×{h} frame "
                    f"(x 0..{w - 1}, y 0..{h - 1})"
                )
        labels = np.asarray(prompt.labels)
        if not np.isin(labels, (0, 1)).all():
            return "click labels are 1 (on the object) or 0 (not on it)"
        if not labels.any() and prompt.box is None:
            return "clicks without a box need at least one positive click"
    return None


def _numbers(values) -> str:
    return ",".join(f"{float(v):g}" for v in values)


def segment_prompts(
    segmenter: PromptableSegmenter, image: np.ndarray, prompts: dict[int, Prompt]
) -> np.ndarray:
    """One frame's prompts as a mask: ``uint8 (H, W)`` object ids (0 elsewhere).

    Args:
        segmenter: the promptable segmenter; the image is embedded once for every object.
        image: ``uint8 (H, W, 3)`` RGB.
        prompts: object id (1..254) → its prompt on this frame.
    """
    embedding = segmenter.embed(image)
    predictions = {oid: segmenter.predict(embedding, p) for oid, p in sorted(prompts.items())}
    return merge_predictions(predictions, image.shape[:2])


def merge_predictions(predictions: dict[int, Prediction], size: tuple[int, int]) -> np.ndarray:
    """``uint8 (H, W)`` ids from per-object predictions: each pixel goes to the object
    whose mask holds it with the largest logit."""
    out = np.zeros(size, np.uint8)
    best = np.full(size, -np.inf, np.float32)
    for oid, pred in sorted(predictions.items()):
        if not 0 < oid <= MAX_OBJECT_ID:
            raise ValueError(f"object ids are 1..{MAX_OBJECT_ID}, got {oid}")
        logits = np.where(pred.mask, np.asarray(pred.logits, np.float32), -np.inf)
        wins = pred.mask & (logits > best)
        out[wins] = oid
        np.maximum(best, logits, out=best)
        if not pred.mask.any():
            log.info("the prompt of object %d gave an empty mask", oid)
    return out


def merge_annotation(
    annotation: np.ndarray | None, prompt_mask: np.ndarray, prompted: tuple[int, ...]
) -> np.ndarray:
    """A frame's annotation with its prompt-made mask joined in: ``uint8 (H, W)``.

    The prompted objects' pixels in ``annotation`` are replaced by ``prompt_mask``'s; the
    other annotated objects and void keep their pixels.
    """
    if annotation is None:
        return prompt_mask.copy()
    out = annotation.copy()
    out[np.isin(out, prompted)] = 0
    free = out == 0
    out[free] = prompt_mask[free]
    return out
