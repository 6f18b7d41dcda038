"""Edge-aware upsampling of probability maps with a colour guided filter (He et al., 2013).

The filter models the output, inside each window, as an affine function of the guide
image's colour, so probability edges snap to image edges. The coefficients are solved at a
reduced resolution and applied at full resolution ("fast guided filter"), which costs a few
box filters per map at the reduced resolution and one resize plus one multiply-add per
pixel at full resolution.

The guide's own statistics (windowed colour means and the inverse of the regularised
colour covariance) do not depend on the maps, so they are computed once per image.
"""

from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r + 1)²`` window of ``x (H, W[, C])``, border-normalised."""
    k = 2 * radius + 1
    return cv2.boxFilter(x, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def _upsize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``x (h, w)`` to ``size (H, W)``."""
    return cv2.resize(x, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def low_size(size: tuple[int, int], scale: int) -> tuple[int, int]:
    """``(h, w)`` at which the coefficients of an ``(H, W)`` guide are solved."""
    h, w = size
    return max(1, round(h / scale)), max(1, round(w / scale))


def _inverse_sym3(cov: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Per-pixel inverse of symmetric 3×3 matrices given as maps ``cov[a][b] (h, w)``.

    Closed form (adjugate over determinant), in float64: the matrices are regularised,
    so the determinant is at least ``eps³``.
    """
    a, b, c = (cov[0][i].astype(np.float64) for i in range(3))
    d, e, f = cov[1][1].astype(np.float64), cov[1][2].astype(np.float64), cov[2][2]
    f = f.astype(np.float64)
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    inv_det = 1.0 / (a * c00 + b * c01 + c * c02)
    rows = ((c00, c01, c02), (c01, c11, c12), (c02, c12, c22))
    return [[(m * inv_det).astype(np.float32) for m in row] for row in rows]


def guided_upsample(
    guide: np.ndarray,
    probs: np.ndarray,
    *,
    radius: int = 8,
    eps: float = 1e-3,
    scale: int = 4,
    clip: bool = True,
) -> np.ndarray:
    """Upsample probability maps to the guide's resolution, following its edges.

    Args:
        guide: ``uint8 (H, W, 3)`` RGB image.
        probs: ``float32 (K, h, w)`` maps at any lower resolution; maps already at
            :func:`low_size` ``(guide size, scale)`` are used as they are.
        radius: window radius in full-resolution pixels.
        eps: regularisation; larger values smooth more and follow edges less.
        scale: the coefficients are solved at ``1 / scale`` of the guide's resolution.
        clip: clip the result to [0, 1]. Unclipped, the filter is linear: maps that sum to
            one give outputs that sum to one.

    Returns:
        ``float32 (K, H, W)`` maps.
    """
    h, w = guide.shape[:2]
    lh, lw = low_size((h, w), scale)
    r = max(1, round(radius / scale))
    small = cv2.resize(guide, (lw, lh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    # per-window colour statistics of the guide: mean (3) and inverse covariance (3×3)
    mean_i = [_box(small[..., c], r) for c in range(3)]
    cov: list[list[np.ndarray]] = [[None] * 3 for _ in range(3)]  # type: ignore[list-item]
    for a in range(3):
        for b in range(a, 3):
            v = _box(small[..., a] * small[..., b], r) - mean_i[a] * mean_i[b]
            if a == b:
                v += np.float32(eps)
            cov[a][b] = cov[b][a] = v
    inv = _inverse_sym3(cov)
    # full-resolution colour planes: output = a_r·R + a_g·G + a_b·B + b, pixel by pixel
    planes = [np.multiply(guide[..., c], np.float32(1 / 255), dtype=np.float32) for c in range(3)]
    out = np.empty((probs.shape[0], h, w), np.float32)
    for k in range(probs.shape[0]):
        p = probs[k].astype(np.float32, copy=False)
        if p.shape != (lh, lw):
            p = cv2.resize(p, (lw, lh), interpolation=cv2.INTER_LINEAR)
        mean_p = _box(p, r)
        cov_ip = [_box(small[..., c] * p, r) - mean_i[c] * mean_p for c in range(3)]
        coeffs = [
            inv[c][0] * cov_ip[0] + inv[c][1] * cov_ip[1] + inv[c][2] * cov_ip[2] for c in range(3)
        ]
        b = mean_p - coeffs[0] * mean_i[0] - coeffs[1] * mean_i[1] - coeffs[2] * mean_i[2]
        out[k] = _upsize(_box(b, r), (h, w))
        for c in range(3):
            out[k] += _upsize(_box(coeffs[c], r), (h, w)) * planes[c]
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out
