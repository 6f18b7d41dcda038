"""Snapping a coarse object mask to the image's edges with a colour graph cut (GrabCut).

The discovered foreground lives on the backbone's stride-8 grid (16 pixels of a 480p frame
at the default settings): its masks are blobs whose borders miss the object's by up to a
cell. Around each mask, a colour model of the object and of its surroundings (Gaussian
mixtures) and a graph cut whose pairwise terms follow image edges decide every pixel:

- pixels of the mask, a few pixels inside it, where the foreground probability is high
  (without probabilities: the mask's deep core), are certainly the object;
- the rest of the mask is probably the object; the ring around it probably background;
- pixels away from the mask where the foreground probability is low (and the border of the
  crop) are certainly background.

The cut runs on a crop around the mask, scaled down when large, so it costs a few tens of
milliseconds an object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SnapConfig:
    """Knobs of :func:`snap_mask`.

    Attributes:
        scale: the crop is resized by this factor before the cut (on DAVIS-2016 train
            tennis and dog-agility, J&F 0.40 and 0.54 at 0.5, 0.38 and 0.55 at full
            resolution, which costs four times the pixels) ...
        min_side: ... but its longer side is kept at least this long (small objects are cut
            at up to full resolution).
        iterations: GrabCut iterations (colour models re-estimated each time).
        margin: the crop extends the mask's box by this fraction of its size on each side.
        sure_probability: inside the eroded mask, pixels with a foreground probability above
            this are fixed as the object.
        far_pixels: pixels farther than this (in pixels of the scaled crop) from the mask
            are fixed as background where their foreground probability is below
            ``sure_background`` (everywhere without probabilities); the crop's border always.
        sure_background: see ``far_pixels``.
        min_pixels: masks with fewer pixels than this are returned unchanged.
        min_agreement: a snapped mask whose IoU with the coarse one is below this is
            discarded (the coarse mask is kept): the cut lost the object.
    """

    scale: float = 0.5
    min_side: int = 96
    iterations: int = 3
    margin: float = 0.25
    sure_probability: float = 0.9
    far_pixels: int = 7
    sure_background: float = 0.3
    min_pixels: int = 20
    min_agreement: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= 1.0:
            raise ValueError("scale must be in (0, 1]")
        if self.iterations < 1:
            raise ValueError("iterations must be at least 1")


def _crop(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    h, w = ys[-1] - ys[0] + 1, xs[-1] - xs[0] + 1
    dy, dx = round(h * margin), round(w * margin)
    return (
        max(0, ys[0] - dy),
        min(mask.shape[0], ys[-1] + dy + 1),
        max(0, xs[0] - dx),
        min(mask.shape[1], xs[-1] + dx + 1),
    )


def snap_mask(
    image: np.ndarray,
    mask: np.ndarray,
    probability: np.ndarray | None = None,
    config: SnapConfig | None = None,
) -> np.ndarray:
    """``mask`` (bool ``(H, W)``) with its border moved to the edges of ``image`` (``uint8
    (H, W, 3)``, RGB).

    Args:
        probability: foreground probability float32 ``(H, W)``; where given, confident
            pixels of the mask (a few pixels inside it) are fixed as the object (its more
            confident half when none is above ``sure_probability``); otherwise the mask's
            core (eroded by ``far_pixels``) is.
        config: see :class:`SnapConfig`.

    Returns:
        bool ``(H, W)``; ``mask`` itself when it is too small, the cut fails, or the cut
        keeps too little of it (``min_agreement``).
    """
    cfg = config or SnapConfig()
    mask = np.asarray(mask, bool)
    if np.count_nonzero(mask) < cfg.min_pixels:
        return mask
    y0, y1, x0, x1 = _crop(mask, cfg.margin)
    scale = min(1.0, max(cfg.scale, cfg.min_side / max(x1 - x0, y1 - y0)))
    size = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))
    crop = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    obj = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    reach = cfg.far_pixels
    if probability is not None:
        prob = cv2.resize(probability[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR)
        core = cv2.erode(obj, np.ones((5, 5), np.uint8)) > 0
        inner = core & (prob > cfg.sure_probability)
        if not inner.any() and core.any():  # an unsure object: its more confident half
            inner = core & (prob >= np.median(prob[core]))
    else:
        prob = None
        inner = cv2.erode(obj, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    near = cv2.dilate(obj, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    labels = np.full(obj.shape, cv2.GC_PR_BGD, np.uint8)
    labels[obj > 0] = cv2.GC_PR_FGD
    labels[inner] = cv2.GC_FGD
    far = ~near if prob is None else ~near & (prob < cfg.sure_background)
    labels[far] = cv2.GC_BGD
    labels[[0, -1], :] = cv2.GC_BGD
    labels[:, [0, -1]] = cv2.GC_BGD
    if not np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return mask
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    bgr = np.ascontiguousarray(crop[..., ::-1])
    try:
        cv2.grabCut(bgr, labels, None, bgd, fgd, cfg.iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # a colour model without samples: keep the coarse mask
        return mask
    fg = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    out = np.zeros_like(mask)
    up = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out[y0:y1, x0:x1] = up > 0.5
    agreement = np.count_nonzero(out & mask) / np.count_nonzero(out | mask)
    return out if agreement >= cfg.min_agreement else mask
