"""Edge-aware upsampling of probability maps with a colour guided filter (He et al., 2013).

The filter models the output, inside each window, as an affine function of the guide
image's colour, so probability edges snap to image edges. The coefficients are solved at a
reduced resolution and applied at full resolution ("fast guided filter"), which costs a few
box filters per channel.
"""

from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r + 1)²`` window of ``x (H, W)``, border-normalised."""
    k = 2 * radius + 1
    return cv2.boxFilter(x, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_upsample(
    guide: np.ndarray,
    probs: np.ndarray,
    *,
    radius: int = 8,
    eps: float = 1e-3,
    scale: int = 4,
) -> np.ndarray:
    """Upsample probability maps to the guide's resolution, following its edges.

    Args:
        guide: ``uint8 (H, W, 3)`` RGB image.
        probs: ``float32 (K, h, w)`` maps at any lower resolution.
        radius: window radius in full-resolution pixels.
        eps: regularisation; larger values smooth more and follow edges less.
        scale: the coefficients are solved at ``1 / scale`` of the guide's resolution.

    Returns:
        ``float32 (K, H, W)`` maps, clipped to [0, 1].
    """
    h, w = guide.shape[:2]
    lh, lw = max(1, round(h / scale)), max(1, round(w / scale))
    r = max(1, round(radius / scale))
    small = cv2.resize(guide, (lw, lh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    full = guide.astype(np.float32) / 255
    # per-window colour statistics of the guide: mean (3) and covariance (3×3)
    mean_i = [_box(small[..., c], r) for c in range(3)]
    cov = np.empty((lh, lw, 3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            v = _box(small[..., a] * small[..., b], r) - mean_i[a] * mean_i[b]
            cov[..., a, b] = cov[..., b, a] = v
    cov += eps * np.eye(3, dtype=np.float32)
    inv = np.linalg.inv(cov)
    out = np.empty((probs.shape[0], h, w), np.float32)
    for k in range(probs.shape[0]):
        p = cv2.resize(probs[k], (lw, lh), interpolation=cv2.INTER_LINEAR)
        mean_p = _box(p, r)
        cov_ip = np.stack([_box(small[..., c] * p, r) - mean_i[c] * mean_p for c in range(3)], -1)
        a = np.einsum("hwij,hwj->hwi", inv, cov_ip)
        b = mean_p - sum(a[..., c] * mean_i[c] for c in range(3))
        a = np.stack([_box(a[..., c], r) for c in range(3)], -1)
        b = _box(b, r)
        a_full = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b_full = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
        out[k] = np.einsum("hwc,hwc->hw", a_full, full) + b_full
    return np.clip(out, 0.0, 1.0, out=out)
