"""Prompt strategies: turning propagated masks into prompts for a promptable segmenter.

These follow VOS-E-SAM's prompt generation (see the reference facts):

- **box**: the tight box of the mask, optionally enlarged by a margin (:func:`mask_box`);
- **point conversions** (positive points, one set per connected component of at least
  ``min_area`` pixels):

  - ``C`` (:func:`points_c`): the component's centroid, moved to the nearest mask pixel when
    it falls outside, plus evenly spaced points of its outer contour;
  - ``CP`` (:func:`points_cp`): the centroid plus the vertices of the contour's polygon
    approximation (Douglas-Peucker, epsilon = 2 % of the perimeter) that lie in the mask;
  - ``CPS`` (:func:`points_cps`): the skeleton's end points, branch points and the middle
    of each skeleton branch, deduplicated within 5 px, plus the ``CP`` points;

- **negative points**: the other objects' positive points that fall inside this object's
  box (and outside its mask) (:func:`negative_points`);
- **mask**: the propagated probability, which each backend converts to its own low-resolution
  logit format.

The ten modes of VOS-E-SAM combine these (:data:`MODES`); :func:`build_prompts` makes the
prompts of every object of one frame.

Coordinates are ``(x, y)`` pixels; points are integer pixel positions stored as float32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from vosam.types import Prompt

MIN_COMPONENT_AREA = 100
"""Components smaller than this (pixels) give no points (VOS-E-SAM: 100 px)."""


@dataclass(frozen=True)
class PromptMode:
    """Which prompt kinds a mode sends to the segmenter.

    Attributes:
        mask: send the propagated probability as a mask prompt.
        box: send the mask's box.
        positive: send positive points (from the point conversion).
        negative: send negative points (other objects' positive points in this box).
    """

    mask: bool = False
    box: bool = False
    positive: bool = False
    negative: bool = False


MODES: dict[str, PromptMode] = {
    "point": PromptMode(positive=True),
    "bbox": PromptMode(box=True),
    "both": PromptMode(box=True, positive=True),
    "both_neg": PromptMode(box=True, positive=True, negative=True),
    "mask": PromptMode(mask=True),
    "mask_bbox": PromptMode(mask=True, box=True),
    "mask_pos": PromptMode(mask=True, positive=True),
    "mask_bbox_pos": PromptMode(mask=True, box=True, positive=True),
    "mask_bbox_neg": PromptMode(mask=True, box=True, negative=True),
    "mask_bbox_pos_neg": PromptMode(mask=True, box=True, positive=True, negative=True),
}
"""VOS-E-SAM's prompt modes by name."""


# -- boxes and components --------------------------------------------------------------------


def mask_box(mask: np.ndarray, *, margin: int = 0) -> np.ndarray | None:
    """Tight box of ``mask (H, W) bool``: float32 ``(4,)`` ``x0, y0, x1, y1``, inclusive.

    ``margin`` enlarges it by that many pixels on every side, clipped to the image. None for
    an empty mask.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    h, w = mask.shape
    box = (
        max(int(xs.min()) - margin, 0),
        max(int(ys.min()) - margin, 0),
        min(int(xs.max()) + margin, w - 1),
        min(int(ys.max()) + margin, h - 1),
    )
    return np.asarray(box, dtype=np.float32)


def components(mask: np.ndarray, *, min_area: int = MIN_COMPONENT_AREA) -> list[np.ndarray]:
    """8-connected components of ``mask (H, W)`` with at least ``min_area`` pixels.

    Returns bool ``(H, W)`` masks, largest first (ties: in scan order).
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if count == 0:
        return []
    areas = np.bincount(labels.ravel())[1:]
    order = sorted(range(count), key=lambda k: (-areas[k], k))
    return [labels == k + 1 for k in order if areas[k] >= min_area]


def centroid(component: np.ndarray) -> np.ndarray:
    """Centroid of ``component (H, W) bool`` as an integer pixel ``(x, y)`` float32 ``(2,)``.

    The rounded centroid when that pixel is in the component, else the component's pixel
    nearest to the exact centroid (first in scan order on ties).
    """
    ys, xs = np.nonzero(component)
    cy, cx = ys.mean(), xs.mean()
    ry, rx = int(np.floor(cy + 0.5)), int(np.floor(cx + 0.5))
    if component[ry, rx]:
        return np.asarray((rx, ry), np.float32)
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return np.asarray((xs[k], ys[k]), np.float32)


def _outer_contour(component: np.ndarray) -> np.ndarray:
    """Outer contour of one component, int ``(K, 2)`` ``(x, y)``, every boundary pixel."""
    found, _ = cv2.findContours(
        component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    contour = max(found, key=len)
    return contour[:, 0, :]


def _dedup(points: list[np.ndarray], min_dist: float) -> list[np.ndarray]:
    """Keep points in order, dropping any closer than ``min_dist`` to one already kept."""
    kept: list[np.ndarray] = []
    for p in points:
        if all(np.hypot(*(p - q)) >= min_dist for q in kept):
            kept.append(p)
    return kept


def _stack(points: list[np.ndarray]) -> np.ndarray:
    if not points:
        return np.zeros((0, 2), np.float32)
    return np.stack(points).astype(np.float32)


# -- point conversions -----------------------------------------------------------------------


def points_c(
    mask: np.ndarray, *, min_area: int = MIN_COMPONENT_AREA, contour_points: int = 4
) -> np.ndarray:
    """Conversion C: per component, its centroid plus evenly spaced outer-contour points.

    The contour points are its pixels number ``round(i * K / contour_points)`` for
    ``i < contour_points``, ``K`` the contour's length, starting from OpenCV's first contour
    pixel (the top-most, then left-most one).

    Args:
        mask: bool ``(H, W)``.
    Returns:
        float32 ``(P, 2)`` ``(x, y)``.
    """
    out: list[np.ndarray] = []
    for comp in components(mask, min_area=min_area):
        out.append(centroid(comp))
        contour = _outer_contour(comp)
        for i in range(contour_points):
            out.append(contour[round(i * len(contour) / contour_points) % len(contour)])
    return _stack([np.asarray(p, np.float32) for p in out])


def polygon_points(component: np.ndarray, *, epsilon: float = 0.02) -> list[np.ndarray]:
    """Vertices of the component's polygon approximation that lie in the component.

    Douglas-Peucker (``cv2.approxPolyDP``) on the outer contour with tolerance
    ``epsilon`` × the contour's perimeter.
    """
    contour = _outer_contour(component)
    tol = epsilon * cv2.arcLength(contour[:, None, :], True)
    poly = cv2.approxPolyDP(contour[:, None, :], tol, True)[:, 0, :]
    return [np.asarray(p, np.float32) for p in poly if component[p[1], p[0]]]


def points_cp(
    mask: np.ndarray, *, min_area: int = MIN_COMPONENT_AREA, epsilon: float = 0.02
) -> np.ndarray:
    """Conversion CP: per component, its centroid plus its polygon vertices in the mask.

    Args:
        mask: bool ``(H, W)``.
    Returns:
        float32 ``(P, 2)`` ``(x, y)``.
    """
    out: list[np.ndarray] = []
    for comp in components(mask, min_area=min_area):
        out.append(centroid(comp))
        out.extend(polygon_points(comp, epsilon=epsilon))
    return _stack(out)


_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.int32)


def skeleton(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide skeleton of ``mask (H, W) bool`` (Zhang-Suen thinning), bool."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [
                np.roll(np.roll(img, dy, 0), dx, 1)
                for dy, dx in ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))
            ]
            # p[0..7] = P2..P9 clockwise from north
            b = sum(p)
            a = sum((p[k] == 0) & (p[(k + 1) % 8] == 1) for k in range(8))
            if step == 0:
                c1, c2 = p[0] * p[2] * p[4], p[2] * p[4] * p[6]
            else:
                c1, c2 = p[0] * p[2] * p[6], p[0] * p[4] * p[6]
            remove = (img == 1) & (b >= 2) & (b <= 6) & (a == 1) & (c1 == 0) & (c2 == 0)
            if remove.any():
                img[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def skeleton_points(component: np.ndarray, *, min_dist: float = 5.0) -> list[np.ndarray]:
    """End points, branch points and branch middles of the component's skeleton.

    End points have one skeleton neighbour, branch points three or more; each branch (the
    skeleton without its branch points, 8-connected) gives its pixel nearest to its own
    mean. Points closer than ``min_dist`` to an earlier one are dropped.
    """
    skel = skeleton(component)
    count = ndimage.convolve(skel.astype(np.int32), _NEIGHBOURS, mode="constant") * skel
    ends = np.argwhere(skel & (count == 1))
    branches = np.argwhere(skel & (count >= 3))
    points = [np.asarray((x, y), np.float32) for y, x in (*ends, *branches)]
    segments, n = ndimage.label(skel & (count < 3), structure=np.ones((3, 3), bool))
    for k in range(1, n + 1):
        ys, xs = np.nonzero(segments == k)
        j = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
        points.append(np.asarray((xs[j], ys[j]), np.float32))
    return _dedup(points, min_dist)


def points_cps(
    mask: np.ndarray,
    *,
    min_area: int = MIN_COMPONENT_AREA,
    epsilon: float = 0.02,
    min_dist: float = 5.0,
) -> np.ndarray:
    """Conversion CPS: per component, skeleton points (deduplicated) then the CP points.

    Args:
        mask: bool ``(H, W)``.
    Returns:
        float32 ``(P, 2)`` ``(x, y)``.
    """
    out: list[np.ndarray] = []
    for comp in components(mask, min_area=min_area):
        out.extend(skeleton_points(comp, min_dist=min_dist))
        out.append(centroid(comp))
        out.extend(polygon_points(comp, epsilon=epsilon))
    return _stack(out)


POINT_CONVERSIONS: dict[str, Callable[..., np.ndarray]] = {
    "C": points_c,
    "CP": points_cp,
    "CPS": points_cps,
}
"""VOS-E-SAM's mask-to-points conversions by name."""


def negative_points(box: np.ndarray, mask: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """Other objects' positive points inside ``box`` and outside ``mask``.

    Args:
        box: float32 ``(4,)`` inclusive ``x0, y0, x1, y1`` of this object.
        mask: bool ``(H, W)`` of this object.
        others: the other objects' positive points, each float32 ``(P_i, 2)``.
    Returns:
        float32 ``(Q, 2)``.
    """
    out = []
    for pts in others:
        for x, y in pts:
            inside = box[0] <= x <= box[2] and box[1] <= y <= box[3]
            if inside and not mask[int(y), int(x)]:
                out.append(np.asarray((x, y), np.float32))
    return _stack(out)


# -- prompts of one frame --------------------------------------------------------------------


def build_prompts(
    probs: Mapping[int, np.ndarray],
    masks: Mapping[int, np.ndarray],
    *,
    mode: str = "mask_bbox_pos_neg",
    points: str = "CP",
    box_margin: int = 0,
    min_area: int = MIN_COMPONENT_AREA,
) -> dict[int, Prompt]:
    """Prompts of every object of one frame from its propagated masks.

    Args:
        probs: object id → float32 ``(H, W)`` propagated probability (the mask prompt).
        masks: object id → bool ``(H, W)`` decided mask (boxes and points come from it).
        mode: a key of :data:`MODES`.
        points: a key of :data:`POINT_CONVERSIONS`.
        box_margin: pixels added around every box (VOS-E-SAM's variant uses 10).
        min_area: smallest component that gives points.
    Returns:
        object id → :class:`Prompt`; objects with an empty mask, or with nothing to send in
        this mode, are left out.
    """
    if mode not in MODES:
        raise ValueError(f"unknown prompt mode {mode!r}; choose one of {', '.join(MODES)}")
    if points not in POINT_CONVERSIONS:
        raise ValueError(
            f"unknown point conversion {points!r}; choose one of {', '.join(POINT_CONVERSIONS)}"
        )
    spec = MODES[mode]
    convert = POINT_CONVERSIONS[points]
    boxes = {oid: mask_box(m, margin=box_margin) for oid, m in masks.items()}
    need_points = spec.positive or spec.negative
    positives = {
        oid: convert(m, min_area=min_area) if need_points and boxes[oid] is not None else None
        for oid, m in masks.items()
    }
    out: dict[int, Prompt] = {}
    for oid, mask in masks.items():
        box = boxes[oid]
        if box is None:
            continue
        pts = [positives[oid]] if spec.positive else []
        lbl = [np.ones(len(positives[oid]), np.int32)] if spec.positive else []
        if spec.negative:
            others = [p for o, p in positives.items() if o != oid and p is not None]
            neg = negative_points(box, mask, others)
            pts.append(neg)
            lbl.append(np.zeros(len(neg), np.int32))
        point_arr = np.concatenate(pts) if pts else np.zeros((0, 2), np.float32)
        label_arr = np.concatenate(lbl) if lbl else np.zeros(0, np.int32)
        has_points = len(point_arr) > 0
        if not (spec.mask or spec.box or has_points):
            continue
        out[oid] = Prompt(
            box=box if spec.box else None,
            points=point_arr.astype(np.float32) if has_points else None,
            labels=label_arr.astype(np.int32) if has_points else None,
            mask=np.asarray(probs[oid], np.float32) if spec.mask else None,
        )
    return out
