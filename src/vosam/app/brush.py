"""Brush strokes on masks: round-tipped line segments drawn into a boolean image."""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def stroke_mask(size: tuple[int, int], points: np.ndarray, radius: float) -> np.ndarray:
    """Pixels covered by a brush of ``radius`` dragged through ``points``.

    Args:
        size: ``(H, W)`` of the image.
        points: float ``(P, 2)`` ``(x, y)`` pixel coordinates of the stroke, ``P >= 1``.
        radius: brush radius in pixels; a pixel is covered when its centre lies within
            ``radius`` of the polyline (a single point gives a disc).

    Returns:
        bool ``(H, W)``.
    """
    h, w = size
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("a stroke needs at least one point")
    if radius <= 0:
        raise ValueError(f"brush radius must be positive, got {radius}")
    out = np.zeros((h, w), dtype=bool)
    segments = pairwise(pts) if len(pts) > 1 else [(pts[0], pts[0])]
    for a, b in segments:
        x0 = int(max(np.floor(min(a[0], b[0]) - radius), 0))
        x1 = int(min(np.ceil(max(a[0], b[0]) + radius), w - 1))
        y0 = int(max(np.floor(min(a[1], b[1]) - radius), 0))
        y1 = int(min(np.ceil(max(a[1], b[1]) + radius), h - 1))
        if x0 > x1 or y0 > y1:
            continue
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
        d = b - a
        length2 = float(d @ d)
        if length2 == 0:
            t = np.zeros_like(xs)
        else:
            t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length2, 0.0, 1.0)
        dist2 = (xs - a[0] - t * d[0]) ** 2 + (ys - a[1] - t * d[1]) ** 2
        out[y0 : y1 + 1, x0 : x1 + 1] |= dist2 <= radius * radius
    return out
