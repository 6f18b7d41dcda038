"""J and F per frame: hand-computed values on tiny masks, and the crop-based code against a
plain full-image reading of the definition."""

from __future__ import annotations

import numpy as np
import pytest
from evalhelpers import box
from scipy.ndimage import binary_dilation

from vosam.eval.metrics import (
    boundary_map,
    boundary_tolerance,
    disk,
    f_measure,
    jaccard,
    score_frame,
)


def test_tolerance_from_image_diagonal():
    assert boundary_tolerance((480, 854)) == 8  # ceil(0.008 * 979.65)
    assert boundary_tolerance((240, 432)) == 4  # ceil(0.008 * 494.2)
    assert boundary_tolerance((5, 5)) == 1
    assert boundary_tolerance((5, 5), 3) == 3  # >= 1: pixels already


def test_disk_is_the_euclidean_ball():
    assert disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert int(disk(8).sum()) == 197


def test_boundary_of_a_single_pixel():
    m = np.zeros((5, 5), bool)
    m[2, 2] = True
    # the pixel, its west neighbour (east differs), north (south differs), north-west (SE)
    expected = np.zeros((5, 5), bool)
    expected[1:3, 1:3] = True
    assert np.array_equal(boundary_map(m), expected)


def test_boundary_ignores_neighbours_outside_the_image():
    full = np.ones((4, 6), bool)
    assert not boundary_map(full).any()
    m = np.zeros((3, 4), bool)
    m[:, 3] = True  # last column: only its south neighbour would count
    b = boundary_map(m)
    assert b[:, 2].all()  # column 2 differs from its east neighbour
    assert not b[:, 3].any()


def test_jaccard_hand_values():
    g = box(4, 6, 1, 3, 1, 3)  # 4 pixels
    p = box(4, 6, 1, 3, 1, 4)  # 6 pixels, 4 shared
    assert jaccard(g, p) == pytest.approx(4 / 6)
    empty = np.zeros((4, 6), np.uint8)
    assert jaccard(empty, empty) == 1.0
    assert jaccard(g, empty) == 0.0
    assert jaccard(empty, p) == 0.0


def test_void_pixels_count_for_neither_set():
    g = box(4, 6, 1, 3, 1, 3)
    p = box(4, 6, 1, 3, 1, 5)  # two extra columns, 4 extra pixels
    void = box(4, 6, 0, 4, 3, 5).astype(bool)  # covers exactly the extra pixels
    assert jaccard(g, p) == pytest.approx(4 / 8)
    assert jaccard(g, p, void) == 1.0
    assert f_measure(g, p, void) == 1.0


def test_f_one_row_hand_values():
    g = np.zeros((1, 10), np.uint8)
    g[0, 2:5] = 1  # boundary pixels at x = 1 and x = 4
    p = np.zeros((1, 10), np.uint8)
    p[0, 2:7] = 1  # boundary pixels at x = 1 and x = 6
    # radius 1: x=6 is 2 away from x=4 → precision 1/2, recall 1/2
    assert f_measure(g, p, radius=1) == pytest.approx(0.5)
    assert f_measure(g, p, radius=2) == 1.0
    assert jaccard(g, p) == pytest.approx(3 / 5)


def test_f_shifted_pixel_hand_values():
    g = np.zeros((5, 5), np.uint8)
    g[2, 2] = 1
    one = np.zeros((5, 5), np.uint8)
    one[2, 3] = 1
    two = np.zeros((5, 5), np.uint8)
    two[2, 4] = 1
    # 5×5 → tolerance 1 pixel: a one-pixel shift keeps every boundary pixel within reach
    assert jaccard(g, one) == 0.0
    assert f_measure(g, one) == 1.0
    # two pixels: half of each boundary matches → P = R = 1/2
    assert f_measure(g, two) == pytest.approx(0.5)


def test_f_empty_cases():
    empty = np.zeros((6, 6), np.uint8)
    g = box(6, 6, 2, 4, 2, 4)
    assert f_measure(empty, empty) == 1.0
    assert f_measure(g, empty) == 0.0
    assert f_measure(empty, g) == 0.0
    # a mask covering the whole image has no boundary: against nothing, F = 1 (both empty)
    full = np.ones((6, 6), np.uint8)
    assert f_measure(full, empty) == 1.0
    assert jaccard(full, empty) == 0.0


def _reference_j_f(gt: np.ndarray, pred: np.ndarray, void: np.ndarray, r: int):
    """The definition, read literally on the full image."""
    keep = ~void
    g, p = gt & keep, pred & keep
    union = np.count_nonzero(g | p)
    j = 1.0 if union == 0 else np.count_nonzero(g & p) / union

    def bmap(m):
        h, w = m.shape
        out = np.zeros_like(m)
        for dy, dx in ((0, 1), (1, 0), (1, 1)):  # east, south, south-east, inside the image
            out[: h - dy, : w - dx] |= m[: h - dy, : w - dx] != m[dy:, dx:]
        return out

    gb, pb = bmap(g), bmap(p)
    ng, npred = np.count_nonzero(gb), np.count_nonzero(pb)
    if ng == 0 and npred == 0:
        return j, 1.0
    if ng == 0 or npred == 0:
        return j, 0.0
    se = disk(r).astype(bool)
    prec = np.count_nonzero(pb & binary_dilation(gb, se)) / npred
    rec = np.count_nonzero(gb & binary_dilation(pb, se)) / ng
    return j, 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def test_crops_give_the_full_image_values():
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(3, 40, size=2))
        gt = np.zeros((h, w), np.uint8)
        pred = np.zeros((h, w), np.uint8)
        for k in (1, 2):
            for a in (gt, pred):
                if rng.random() < 0.8:
                    y, x = rng.integers(0, h), rng.integers(0, w)
                    a[y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1)] = k
                    a[rng.random((h, w)) < 0.05] = k
        if rng.random() < 0.3:
            gt[rng.random((h, w)) < 0.1] = 255
        r = int(rng.integers(1, 5))
        j, f = score_frame(gt, pred, [1, 2], radius=r)
        jp, fp = score_frame(gt, pred, [1, 2], proposal_ids=[1, 2, 3], radius=r)
        void = gt == 255
        for n, k in enumerate((1, 2)):
            ref = _reference_j_f(gt == k, pred == k, void, r)
            assert (j[n], f[n]) == pytest.approx(ref, abs=1e-12)
            for m, i in enumerate((1, 2, 3)):
                ref = _reference_j_f(gt == k, pred == i, void, r)
                assert (jp[m, n], fp[m, n]) == pytest.approx(ref, abs=1e-12)


def test_size_mismatch_is_rejected():
    with pytest.raises(ValueError, match="differ in size"):
        score_frame(np.zeros((3, 4), np.uint8), np.zeros((4, 3), np.uint8), [1])
