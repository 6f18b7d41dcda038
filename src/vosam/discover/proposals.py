"""Object proposals: boxes of the connected foreground regions of a probability map."""

from __future__ import annotations

import cv2
import numpy as np

from vosam.discover.linking import Detection


def grid_to_frame(
    grid: np.ndarray, input_size: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """A stride-8 map ``(h8, w8)`` of a backbone input ``input_size (h, w)`` → float32
    ``(H, W)`` at the frame's ``size``, bilinear (cells beyond the input are cropped)."""
    h, w = input_size
    h8, w8 = grid.shape
    up = cv2.resize(grid.astype(np.float32), (w8 * 8, h8 * 8), interpolation=cv2.INTER_LINEAR)
    up = up[:h, :w]
    return cv2.resize(up, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def hysteresis(prob: np.ndarray, high: float, low: float) -> np.ndarray:
    """uint8 ``(H, W)``: 1 where ``prob > low`` in a connected region holding ``prob > high``."""
    weak = (prob > low).astype(np.uint8)
    if low >= high:
        return (prob > high).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    strong = np.zeros(count, bool)
    strong[np.unique(labels[prob > high])] = True
    strong[0] = False
    return strong[labels].astype(np.uint8)


def propose(
    prob: np.ndarray,
    *,
    threshold: float = 0.7,
    low_threshold: float | None = None,
    min_area: float = 0.002,
    merge_radius: float = 0.04,
    max_proposals: int = 10,
) -> list[Detection]:
    """Boxes of the foreground of ``prob float32 (H, W)``.

    Hysteresis: pixels above ``low_threshold`` are foreground when their connected region
    holds a pixel above ``threshold`` (``low_threshold`` None: ``threshold`` alone). Pieces
    closer than ``merge_radius`` × the shorter side are one proposal. Each proposal's box is
    the inclusive extent of its foreground pixels; its score is their mean probability.
    Pieces smaller than ``min_area`` of the frame are dropped.

    Returns:
        Up to ``max_proposals`` ``(box float32 (4,), score)``, best score first.
    """
    fg = hysteresis(prob, threshold, threshold if low_threshold is None else low_threshold)
    if not fg.any():
        return []
    radius = max(0, round(merge_radius * min(prob.shape)))
    grown = fg
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        grown = cv2.dilate(fg, kernel)
    count, labels = cv2.connectedComponents(grown, connectivity=8)
    labels = np.where(fg > 0, labels, 0)
    out: list[Detection] = []
    least = min_area * prob.size
    for k in range(1, count):
        sel = labels == k
        area = int(sel.sum())
        if area < least:
            continue
        ys, xs = np.nonzero(sel)
        box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)
        out.append((box, float(prob[sel].mean())))
    out.sort(key=lambda d: -d[1])
    return out[:max_proposals]
