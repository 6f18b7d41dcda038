"""Prompt strategies on constructed masks: exact boxes, points and negatives."""

from __future__ import annotations

import numpy as np
import pytest

from vosam.refine.prompts import (
    MODES,
    build_prompts,
    centroid,
    components,
    mask_box,
    points_c,
    points_cp,
    points_cps,
    skeleton,
    skeleton_points,
)


def square(shape, rows, cols):
    m = np.zeros(shape, bool)
    m[rows[0] : rows[1], cols[0] : cols[1]] = True
    return m


def l_shape():
    """Vertical bar rows 10-49 x cols 10-19 plus a foot rows 40-49 x cols 20-59 (800 px)."""
    m = np.zeros((70, 70), bool)
    m[10:50, 10:20] = True
    m[40:50, 20:60] = True
    return m


def ring():
    yy, xx = np.mgrid[:60, :60]
    d = np.hypot(yy - 30, xx - 30)
    return (d >= 10) & (d < 20)


def as_list(points):
    return [tuple(p) for p in np.asarray(points).tolist()]


def test_box_is_inclusive_and_margin_is_clipped():
    m = l_shape()
    np.testing.assert_array_equal(mask_box(m), [10, 10, 59, 49])
    np.testing.assert_array_equal(mask_box(m, margin=5), [5, 5, 64, 54])
    np.testing.assert_array_equal(mask_box(m, margin=15), [0, 0, 69, 64])
    one = np.zeros((5, 5), bool)
    one[2, 3] = True
    np.testing.assert_array_equal(mask_box(one), [3, 2, 3, 2])
    assert mask_box(np.zeros((5, 5), bool)) is None


def test_centroid_inside_and_moved_into_the_mask():
    # square rows 10-29, cols 20-39: exact centroid (29.5, 19.5) rounds to (30, 20)
    assert as_list([centroid(square((50, 60), (10, 30), (20, 40)))]) == [(30, 20)]
    # the L's centroid (27, 37) is in the notch: nearest mask pixel is (27, 40)
    assert as_list([centroid(l_shape())]) == [(27, 40)]
    # the ring's centroid is its empty centre; nearest pixels are 10 px away, first in scan
    assert as_list([centroid(ring())]) == [(30, 20)]


def test_components_drop_small_ones_largest_first():
    m = square((80, 80), (40, 55), (50, 65)) | square((80, 80), (5, 25), (5, 25))
    m |= square((80, 80), (70, 75), (5, 10))  # 25 px: too small
    comps = components(m)
    assert [int(c.sum()) for c in comps] == [400, 225]
    assert len(components(m, min_area=10)) == 3


def test_c_points_centroid_and_evenly_spaced_contour():
    sq = square((50, 60), (10, 30), (20, 40))
    # the 20x20 square's contour has 76 pixels; 0, 19, 38, 57 are its four corners
    assert as_list(points_c(sq)) == [(30, 20), (20, 10), (20, 29), (39, 29), (39, 10)]
    pts = points_c(l_shape())
    assert as_list(pts)[0] == (27, 40)
    assert all(l_shape()[int(y), int(x)] for x, y in pts)
    assert len(points_c(l_shape(), contour_points=8)) == 9


def test_cp_points_are_the_polygon_corners():
    assert as_list(points_cp(l_shape())) == [
        (27, 40),
        (10, 10),
        (10, 49),
        (59, 49),
        (59, 40),
        (20, 40),
        (19, 10),
    ]


def test_cp_points_of_several_components():
    m = square((80, 80), (5, 25), (5, 25)) | square((80, 80), (40, 55), (50, 65))
    m |= square((80, 80), (70, 75), (5, 10))
    assert as_list(points_cp(m)) == [
        (15, 15),
        (5, 5),
        (5, 24),
        (24, 24),
        (24, 5),
        (57, 47),
        (50, 40),
        (50, 54),
        (64, 54),
        (64, 40),
    ]


def test_cp_points_of_a_ring_lie_on_it():
    pts = points_cp(ring())
    assert as_list(pts)[0] == (30, 20)
    assert len(pts) >= 5
    assert all(ring()[int(y), int(x)] for x, y in pts)
    # polygon vertices are on the outer contour: 19 or more px from the centre
    assert all(np.hypot(x - 30, y - 30) >= 18.5 for x, y in pts[1:])


def cross():
    m = np.zeros((61, 61), bool)
    m[28:33, 5:56] = True
    m[5:56, 28:33] = True
    return m


def test_skeleton_is_thin_and_inside():
    sk = skeleton(cross())
    assert sk.any() and not (sk & ~cross()).any()
    # one pixel wide: no 2x2 block of skeleton pixels
    blocks = sk[:-1, :-1] & sk[1:, :-1] & sk[:-1, 1:] & sk[1:, 1:]
    assert not blocks.any()


def test_skeleton_points_of_a_cross():
    pts = as_list(skeleton_points(cross()))
    # four arm ends, the centre branch point, and the middle of each arm
    assert pts == [
        (30, 7),
        (7, 30),
        (52, 30),
        (30, 52),
        (30, 29),
        (30, 17),
        (17, 30),
        (42, 30),
        (30, 42),
    ]
    d = [np.hypot(a[0] - b[0], a[1] - b[1]) for i, a in enumerate(pts) for b in pts[:i]]
    assert min(d) >= 5


def test_cps_is_skeleton_then_cp():
    got = as_list(points_cps(cross()))
    assert got == as_list(skeleton_points(cross())) + as_list(points_cp(cross()))
    assert got[9] == (30, 30)  # the CP centroid


def touching():
    """Object 1: the L; object 2: a square in the L's notch, touching its foot."""
    one = l_shape()
    two = square((70, 70), (20, 40), (30, 50))
    return {1: one, 2: two}


def test_negative_points_are_the_other_objects_points_in_the_box():
    masks = touching()
    probs = {k: m.astype(np.float32) for k, m in masks.items()}
    prompts = build_prompts(probs, masks, mode="mask_bbox_pos_neg", points="CP")
    p1, p2 = prompts[1], prompts[2]
    pos1, pos2 = points_cp(masks[1]), points_cp(masks[2])
    # object 2's CP points all lie in the L's box (10..59, 10..49) and outside the L
    assert as_list(pos2) == [(40, 30), (30, 20), (30, 39), (49, 39), (49, 20)]
    assert as_list(p1.points) == as_list(pos1) + as_list(pos2)
    np.testing.assert_array_equal(p1.labels, [1] * len(pos1) + [0] * len(pos2))
    # the L's points inside object 2's box (30..49, 20..39): none are
    assert as_list(p2.points) == as_list(pos2)
    np.testing.assert_array_equal(p2.labels, [1] * 5)
    np.testing.assert_array_equal(p2.box, [30, 20, 49, 39])
    np.testing.assert_array_equal(p1.mask, probs[1])


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_sends_what_it_names(mode):
    masks = touching()
    probs = {k: m.astype(np.float32) * 0.8 for k, m in masks.items()}
    prompt = build_prompts(probs, masks, mode=mode, points="C")[1]
    spec = MODES[mode]
    assert (prompt.mask is not None) == spec.mask
    assert (prompt.box is not None) == spec.box
    labels = [] if prompt.labels is None else prompt.labels.tolist()
    assert (1 in labels) == spec.positive
    assert (0 in labels) == spec.negative
    assert mode.startswith("mask") == spec.mask
    assert ("bbox" in mode or mode.startswith("both")) == spec.box
    assert ("neg" in mode) == spec.negative


def test_empty_objects_get_no_prompt_and_bad_names_are_refused():
    masks = {1: l_shape(), 2: np.zeros((70, 70), bool)}
    probs = {k: m.astype(np.float32) for k, m in masks.items()}
    assert set(build_prompts(probs, masks)) == {1}
    with pytest.raises(ValueError, match="prompt mode"):
        build_prompts(probs, masks, mode="masks")
    with pytest.raises(ValueError, match="point conversion"):
        build_prompts(probs, masks, points="XY")


def test_box_margin_reaches_the_prompt():
    masks = touching()
    probs = {k: m.astype(np.float32) for k, m in masks.items()}
    p = build_prompts(probs, masks, mode="bbox", box_margin=10)[2]
    np.testing.assert_array_equal(p.box, [20, 10, 59, 49])
    assert p.points is None and p.mask is None
