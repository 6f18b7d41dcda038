"""Motion saliency: optical flow with the camera's global motion removed.

Flow is DIS optical flow (OpenCV) on grey frames scaled down to a short side of a few
hundred pixels. The camera's motion is modelled as one affine map fitted robustly (RANSAC)
to the flow of a grid of points; what remains (the residual flow) belongs to objects that
move on their own. The residual's magnitude ``r`` becomes a saliency in [0, 1) with
``r² / (r² + t²)`` with ``t = τ + 3·median(r)``: ``τ`` is the residual (in pixels of the
scaled frame) that counts as half salient on a clean frame, and the median term discounts
frames whose whole residual is raised (blur, parallax, a poor camera model). The residuals
towards the previous and the next frame are combined by their minimum: a region uncovered
by the object's motion looks like motion in one direction only.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from vosam.ops.working_size import working_size

log = logging.getLogger(__name__)


def _grey(image: np.ndarray, short_side: int) -> np.ndarray:
    h, w = working_size(image.shape[:2], short_side)
    size = (max(16, w), max(16, h))
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def global_motion(flow: np.ndarray, step: int = 4) -> np.ndarray:
    """The camera's motion: an affine map fitted to ``flow float32 (h, w, 2)`` by RANSAC.

    Returns the flow that map predicts, float32 ``(h, w, 2)``; zero when the fit fails.
    """
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    dst = src + flow[ys.ravel(), xs.ravel()]
    model, _ = cv2.estimateAffine2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=500, confidence=0.99
    )
    if model is None:
        return np.zeros_like(flow)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    px = model[0, 0] * xx + model[0, 1] * yy + model[0, 2] - xx
    py = model[1, 0] * xx + model[1, 1] * yy + model[1, 2] - yy
    return np.stack([px, py], -1).astype(np.float32)


class MotionSaliency:
    """Per-frame motion saliency of a video, frame by frame.

    Args:
        short_side: flow is computed at this shorter side.
        tau: residual flow (pixels at that scale) that maps to saliency 0.5.
    """

    def __init__(self, short_side: int = 160, tau: float = 2.0) -> None:
        self.short_side = short_side
        self.tau = tau
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from grey ``a`` to grey ``b`` (same size): float32 ``(h, w, 2)``."""
        return self._dis.calc(a, b, None)

    def residual(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Magnitude of the flow ``a → b`` not explained by the camera: float32 ``(h, w)``."""
        flow = self.flow(a, b)
        return np.linalg.norm(flow - global_motion(flow), axis=-1)

    def saliency(
        self, image: np.ndarray, previous: np.ndarray | None, following: np.ndarray | None
    ) -> np.ndarray:
        """Motion saliency of ``image uint8 (H, W, 3)`` from its neighbours → float32
        ``(h, w)`` in [0, 1) at the flow's scale (zeros when it has no neighbour).

        With both neighbours the smaller of the two residuals is used, which suppresses
        one-sided (dis)occlusion artefacts.
        """
        g = _grey(image, self.short_side)
        parts = [
            self.residual(g, _grey(n, self.short_side))
            for n in (previous, following)
            if n is not None
        ]
        if not parts:
            return np.zeros(g.shape, np.float32)
        r = np.minimum.reduce(parts)
        t = self.tau + 3.0 * float(np.median(r))
        r2 = r * r
        return (r2 / (r2 + t * t)).astype(np.float32)
