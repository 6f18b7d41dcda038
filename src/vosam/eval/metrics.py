"""Per-frame region similarity J and boundary measure F, as the DAVIS benchmark defines them.

- J = |P ∩ G| / |P ∪ G|, and 1 when both masks are empty. Void pixels (label 255 in the
  ground truth) count for neither set.
- F: a boundary pixel is one that differs from its east, south or south-east neighbour
  (neighbours outside the image are not compared). Each boundary is dilated with a disk of
  radius ``ceil(0.008 * sqrt(H² + W²))``; precision is the share of predicted boundary
  pixels inside the dilated ground-truth boundary, recall the share of ground-truth boundary
  pixels inside the dilated predicted boundary, and F = 2PR / (P + R). F is 1 when both
  boundaries are empty and 0 when exactly one is.

Speed comes from working on crops: every boundary pixel of a mask lies in its bounding box
grown by one pixel, so boundaries, dilations and counts are computed on the union box of the
two masks only. The two boundaries of a crop are then held as bits of one Python integer
each, row after row with at least ``radius`` zero bits between rows, so that dilating by the
disk is a few dozen shifts and ORs of whole integers and counting is ``int.bit_count``
(about twice as fast as OpenCV's dilation of the crop). The numbers are those of the
full-image computation, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = [
    "BOUNDARY_FRACTION",
    "VOID_LABEL",
    "boundary_map",
    "boundary_tolerance",
    "disk",
    "f_measure",
    "jaccard",
    "score_frame",
]

VOID_LABEL = 255
BOUNDARY_FRACTION = 0.008


def boundary_tolerance(shape: tuple[int, ...], fraction: float = BOUNDARY_FRACTION) -> int:
    """Tolerance radius in pixels for an image of ``shape`` (H, W): ceil(fraction · diagonal).

    A ``fraction`` of 1 or more is taken as a radius in pixels already.
    """
    if fraction >= 1:
        return int(fraction)
    # sqrt of the exact integer sum, as numpy's norm of (H, W) computes it
    return math.ceil(fraction * math.sqrt(shape[0] * shape[0] + shape[1] * shape[1]))


@lru_cache(maxsize=16)
def disk(radius: int) -> np.ndarray:
    """Disk structuring element, uint8 (2r+1, 2r+1): offsets (dy, dx) with dy² + dx² ≤ r²."""
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel = (yy * yy + xx * xx <= r * r).astype(np.uint8)
    kernel.setflags(write=False)
    return kernel


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a binary mask (H, W): bool (H, W).

    A pixel is on the boundary when it differs from its east, south or south-east
    neighbour; neighbours outside the image are not compared.
    """
    m = np.asarray(mask, dtype=bool)
    b = np.zeros(m.shape, dtype=bool)
    _boundary_into(m, b)
    return b


def _boundary_into(m: np.ndarray, b: np.ndarray) -> None:
    """Write the boundary of bool ``m`` (H, W) into the zeroed bool view ``b`` (H, W)."""
    np.not_equal(m[:, :-1], m[:, 1:], out=b[:, :-1])
    b[:-1] |= m[:-1] != m[1:]
    b[:-1, :-1] |= m[:-1, :-1] != m[1:, 1:]


def _boundary_bits(m: np.ndarray, stride: int) -> int:
    """The boundary of bool ``m`` (H, W) as the bits of an integer: row-major, ``stride``
    bits a row (``W`` pixels, then zeros), the first pixel the most significant bit."""
    h, w = m.shape
    rows = np.zeros((h, stride), dtype=bool)
    _boundary_into(m, rows[:, :w])
    return int.from_bytes(np.packbits(rows), "big")


@lru_cache(maxsize=16)
def _half_widths(radius: int) -> tuple[int, ...]:
    """Half width of :func:`disk` ``radius`` at each row offset 0..radius."""
    r = int(radius)
    return tuple(math.isqrt(r * r - dy * dy) for dy in range(r + 1))


def _dilate_bits(bits: int, radius: int, stride: int) -> int:
    """``bits`` (as :func:`_boundary_bits` lays them out, ``stride`` at least ``radius``
    bits longer than a row) dilated by :func:`disk` ``radius``. A row's pixels spread
    sideways only into its zero tail (or the one before it), never onto another row's
    pixels, and moving a whole row is a shift by ``stride``."""
    half = _half_widths(radius)
    across = [bits]  # the row dilation by half width 0, 1, ..., radius
    for w in range(1, radius + 1):
        across.append(across[-1] | (bits << w) | (bits >> w))
    out = across[half[0]]
    for dy in range(1, radius + 1):
        row = across[half[dy]]
        out |= (row << (dy * stride)) | (row >> (dy * stride))
    return out


class _Region:
    """One object's pixels in one frame: full-size mask, bounding box, lazily its boundary."""

    __slots__ = ("_area", "_edge_count", "box", "mask")

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        self.box = _bounding_box(mask)
        self._area: int | None = None if self.box else 0
        self._edge_count: int | None = None if self.box else 0

    @property
    def area(self) -> int:
        if self._area is None:
            y0, x0, y1, x1 = self.box
            self._area = int(np.count_nonzero(self.mask[y0:y1, x0:x1]))
        return self._area

    @property
    def edge_count(self) -> int:
        """Number of boundary pixels, computed on the box grown by one pixel."""
        if self._edge_count is None:
            y0, x0, y1, x1 = _grow(self.box, 1, self.mask.shape)
            self._edge_count = int(np.count_nonzero(boundary_map(self.mask[y0:y1, x0:x1])))
        return self._edge_count


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, x0, y1, x1)`` (ends excluded) of the true pixels of bool ``mask``, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not rows.size:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[y0:y1].any(axis=0))
    return y0, int(cols[0]), y1, int(cols[-1]) + 1


def _grow(box: tuple[int, int, int, int], by: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    y0, x0, y1, x1 = box
    return max(y0 - by, 0), max(x0 - by, 0), min(y1 + by, shape[0]), min(x1 + by, shape[1])


def _union(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _disjoint(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def _f_from_counts(n_pred: int, n_gt: int, matched_pred: int, matched_gt: int) -> float:
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    precision = matched_pred / n_pred
    recall = matched_gt / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _score_pair(g: _Region, p: _Region, radius: int) -> tuple[float, float]:
    """J and F of prediction region ``p`` against ground-truth region ``g``."""
    if g.box is None and p.box is None:
        return 1.0, 1.0
    if g.box is None or p.box is None:
        # one mask empty: J = 0, F = 0 unless the other mask has no boundary at all
        other = g if p.box is None else p
        n = other.edge_count
        return 0.0, _f_from_counts(n if other is p else 0, n if other is g else 0, 0, 0)
    shape = g.mask.shape
    # pixels of either boundary lie within its box grown by 1; the tolerance adds radius
    reach = radius + 1
    if _disjoint(_grow(g.box, reach, shape), _grow(p.box, reach, shape)):
        return 0.0, _f_from_counts(p.edge_count, g.edge_count, 0, 0)
    inter_box = (
        max(g.box[0], p.box[0]),
        max(g.box[1], p.box[1]),
        min(g.box[2], p.box[2]),
        min(g.box[3], p.box[3]),
    )
    if inter_box[0] < inter_box[2] and inter_box[1] < inter_box[3]:
        y0, x0, y1, x1 = inter_box
        inter = int(np.count_nonzero(g.mask[y0:y1, x0:x1] & p.mask[y0:y1, x0:x1]))
    else:
        inter = 0
    union = g.area + p.area - inter
    j = 1.0 if union == 0 else inter / union

    y0, x0, y1, x1 = _grow(_union(g.box, p.box), 1, shape)
    stride = -(-(x1 - x0 + radius) // 8) * 8  # a row and at least radius zeros, in bytes
    gb = _boundary_bits(g.mask[y0:y1, x0:x1], stride)
    pb = _boundary_bits(p.mask[y0:y1, x0:x1], stride)
    n_gt, n_pred = gb.bit_count(), pb.bit_count()
    if n_gt == 0 or n_pred == 0:
        return j, _f_from_counts(n_pred, n_gt, 0, 0)
    # dilation past the crop is not needed: no boundary pixel lies beyond it
    matched_pred = (pb & _dilate_bits(gb, radius, stride)).bit_count()
    matched_gt = (gb & _dilate_bits(pb, radius, stride)).bit_count()
    return j, _f_from_counts(n_pred, n_gt, matched_pred, matched_gt)


def score_frame(
    gt: np.ndarray,
    pred: np.ndarray,
    object_ids: Sequence[int],
    *,
    proposal_ids: Sequence[int] | None = None,
    radius: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of one frame for several objects at once.

    Args:
        gt: uint8 (H, W) ground-truth ids; 255 is void.
        pred: uint8 (H, W) predicted ids.
        object_ids: ground-truth ids to score (K of them).
        proposal_ids: predicted ids to pair with every object (P of them); ``None`` pairs
            each object with the predicted mask of the same id.
        radius: boundary tolerance in pixels; default from the image size.

    Returns:
        (J, F): float64 arrays, (K,) when ``proposal_ids`` is None, else (P, K).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    if radius is None:
        radius = boundary_tolerance(gt.shape)
    void = gt == VOID_LABEL
    keep = None if not void.any() else ~void

    def pred_region(i: int) -> _Region:
        m = pred == i
        if keep is not None:
            m &= keep
        return _Region(m)

    gts = [_Region(gt == k) for k in object_ids]
    if proposal_ids is None:
        out = np.empty((2, len(gts)))
        for n, (k, g) in enumerate(zip(object_ids, gts, strict=True)):
            out[:, n] = _score_pair(g, pred_region(k), radius)
        return out[0], out[1]
    out = np.empty((2, len(proposal_ids), len(gts)))
    counts = np.bincount(pred.ravel() if keep is None else pred[keep], minlength=256)
    empty_scores = None
    for m, i in enumerate(proposal_ids):
        if counts[i] == 0:
            # an absent proposal scores like an empty mask: computed once per frame
            if empty_scores is None:
                nothing = _Region(np.zeros(gt.shape, dtype=bool))
                empty_scores = np.array([_score_pair(g, nothing, radius) for g in gts]).T
            out[:, m, :] = empty_scores.reshape(2, len(gts))
            continue
        p = pred_region(i)
        for n, g in enumerate(gts):
            out[:, m, n] = _score_pair(g, p, radius)
    return out[0], out[1]


def _as_label_pair(
    gt_mask: np.ndarray, pred_mask: np.ndarray, void: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(gt_mask, dtype=bool).astype(np.uint8)
    p = np.asarray(pred_mask, dtype=bool).astype(np.uint8)
    if g.shape != p.shape:
        raise ValueError(f"ground truth {g.shape} and prediction {p.shape} differ in size")
    if void is not None:
        v = np.asarray(void, dtype=bool)
        if v.shape != g.shape:
            raise ValueError(f"void mask {v.shape} and ground truth {g.shape} differ in size")
        g[v] = VOID_LABEL
    return g, p


def jaccard(gt_mask: np.ndarray, pred_mask: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of two binary masks (H, W); ``void`` (H, W) pixels are ignored."""
    g, p = _as_label_pair(gt_mask, pred_mask, void)
    return float(score_frame(g, p, [1])[0][0])


def f_measure(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    void: np.ndarray | None = None,
    *,
    radius: int | None = None,
) -> float:
    """Boundary measure F of two binary masks (H, W); ``void`` (H, W) pixels are ignored."""
    g, p = _as_label_pair(gt_mask, pred_mask, void)
    return float(score_frame(g, p, [1], radius=radius)[1][0])
