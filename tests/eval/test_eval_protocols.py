"""Protocols on tiny sequences held in memory, with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from evalhelpers import box

from vosam.errors import MaskSizeError
from vosam.eval import (
    FrameRange,
    MissingPredictionError,
    UnknownObjectError,
    evaluate_sequence,
)

H = W = 8


def two_objects() -> np.ndarray:
    return box(H, W, 0, 4, 0, 4, 1) + box(H, W, 4, 8, 4, 8, 2)


def names(n: int) -> list[str]:
    return [f"{i:05d}" for i in range(n)]


def semi_case():
    gt = {f: two_objects() for f in names(5)}
    pred = {
        "00001": two_objects(),
        "00002": box(H, W, 0, 4, 0, 2, 1),  # object 1 half, object 2 lost
        "00003": box(H, W, 0, 4, 0, 4, 1) + box(H, W, 4, 8, 4, 6, 2),  # object 2 half
    }
    return gt, pred


def test_semi_supervised_by_hand():
    gt, pred = semi_case()  # no prediction for the first and last frame: never read
    res = evaluate_sequence(gt, pred, name="toy")
    o1, o2 = res.objects
    assert (o1.object_id, o2.object_id) == (1, 2)
    assert o1.frames == ("00001", "00002", "00003")
    assert o1.reference_frame == "00000"
    assert o1.j.tolist() == pytest.approx([1.0, 0.5, 1.0])
    assert o2.j.tolist() == pytest.approx([1.0, 0.0, 0.5])
    assert o2.f[1] == 0.0  # a lost object has F = 0
    assert o1.j_stats.mean == pytest.approx(2.5 / 3)
    assert o1.j_stats.recall == pytest.approx(2 / 3)  # 0.5 is not above 0.5
    # 3 frames: bins (0,1), (1,1), (1,2), (2,2) → 0.75 - 1.0
    assert o1.j_stats.decay == pytest.approx(-0.25)
    assert o2.j_stats.decay == pytest.approx(0.5 - 0.5)
    assert res.j_mean == pytest.approx((2.5 / 3 + 0.5) / 2)


def test_long_video_is_semi_supervised_on_annotated_frames():
    gt, pred = semi_case()
    a = evaluate_sequence(gt, pred)
    b = evaluate_sequence(gt, pred, protocol="long-video")
    assert [o.j.tolist() for o in a.objects] == [o.j.tolist() for o in b.objects]


def test_sparse_ground_truth_scores_only_annotated_frames():
    gt = {f: two_objects() for f in ("00000", "00005", "00009", "00014")}
    pred = {f: two_objects() for f in names(15)}
    pred["00007"] = np.zeros((H, W), np.uint8)  # not annotated: ignored
    res = evaluate_sequence(gt, pred)
    assert res.objects[0].frames == ("00005", "00009")
    assert res.objects[0].j.tolist() == [1.0, 1.0]


def test_natural_frame_order():
    gt = {str(i): two_objects() for i in (1, 2, 10)}
    pred = {"2": two_objects()}
    res = evaluate_sequence(gt, pred)
    assert res.objects[0].frames == ("2",)  # 1, 2, 10: only 2 is between first and last


def test_void_pixels_are_ignored():
    g = box(H, W, 0, 4, 0, 4, 1)
    g[:, 6:] = 255  # void strip
    p = box(H, W, 0, 4, 0, 4, 1)
    p[0:2, 6:8] = 1  # spills only into void
    gt = {f: g for f in names(3)}
    res = evaluate_sequence(gt, {"00001": p})
    assert res.objects[0].j.tolist() == [1.0]
    assert res.objects[0].f.tolist() == [1.0]


def test_missing_prediction_names_the_frame():
    gt, pred = semi_case()
    del pred["00002"]
    with pytest.raises(MissingPredictionError, match="toy/00002"):
        evaluate_sequence(gt, pred, name="toy")


def test_unknown_object_id_is_an_error():
    gt, pred = semi_case()
    pred["00003"] = pred["00003"].copy()
    pred["00003"][7, 0] = 3
    with pytest.raises(UnknownObjectError, match=r"toy/00003.*object id 3"):
        evaluate_sequence(gt, pred, name="toy")


def test_id_in_a_gap_is_unknown():
    g = box(H, W, 0, 2, 0, 2, 1) + box(H, W, 5, 7, 5, 7, 3)  # objects 1 and 3
    p = g.copy()
    p[4, 0] = 2
    with pytest.raises(UnknownObjectError, match="object id 2"):
        evaluate_sequence({f: g for f in names(3)}, {"00001": p})


def test_object_annotated_later_may_be_predicted_but_is_not_scored(caplog):
    gt = {f: box(H, W, 0, 4, 0, 4, 1) for f in names(4)}
    gt["00002"] = two_objects()  # object 2 annotated from frame 2 on
    pred = {f: two_objects() for f in names(4)}
    res = evaluate_sequence(gt, pred, name="late")
    assert [o.object_id for o in res.objects] == [1]
    assert "late: object(s) 2 first annotated after the first frame" in caplog.text


def test_prediction_size_mismatch():
    gt, pred = semi_case()
    pred["00001"] = np.zeros((H, W + 1), np.uint8)
    with pytest.raises(MaskSizeError, match="9×8 but the ground truth is 8×8"):
        evaluate_sequence(gt, pred, name="toy")


def test_unsupervised_matches_proposals_by_hungarian():
    gt = {f: two_objects() for f in names(4)}
    swapped = box(H, W, 0, 4, 0, 4, 2) + box(H, W, 4, 8, 4, 8, 1)
    swapped[0, 7] = 5  # a spurious one-pixel proposal
    pred = {f: swapped for f in names(4)}
    res = evaluate_sequence(gt, pred, protocol="unsupervised")
    o1, o2 = res.objects
    assert o1.frames == tuple(names(4))  # every frame is scored
    assert (o1.matched_id, o2.matched_id) == (2, 1)
    assert o1.j.tolist() == [1.0] * 4 and o2.f.tolist() == [1.0] * 4


def test_unsupervised_fewer_proposals_than_objects():
    gt = {f: two_objects() for f in names(3)}
    pred = {f: box(H, W, 4, 8, 4, 8, 1) for f in names(3)}  # only object 2 found, as id 1
    o1, o2 = evaluate_sequence(gt, pred, protocol="unsupervised").objects
    assert o2.matched_id == 1 and o2.j.tolist() == [1.0] * 3
    assert o1.matched_id == 2 and o1.j.tolist() == [0.0] * 3  # an empty padding proposal


def test_unsupervised_too_many_proposals():
    gt = {f: two_objects() for f in names(2)}
    p = two_objects()
    p[0, 7] = 21
    with pytest.raises(UnknownObjectError, match="object id 21 is above the 20 proposals"):
        evaluate_sequence(gt, {f: p for f in names(2)}, protocol="unsupervised", name="u")


def test_lvos_objects_start_at_their_first_appearance():
    g1 = box(H, W, 0, 4, 0, 4, 1)
    gt = {f: g1 + (box(H, W, 4, 8, 4, 8, 2) if i >= 2 else 0) for i, f in enumerate(names(6))}
    pred = dict(gt)
    pred["00003"] = g1  # object 2 lost on its first scored frame
    res = evaluate_sequence(gt, pred, protocol="lvos")
    o1, o2 = res.objects
    assert o1.frames == ("00001", "00002", "00003", "00004")
    assert o2.reference_frame == "00002"
    assert o2.frames == ("00003", "00004")  # after its reference, before the last frame
    assert o2.j.tolist() == [0.0, 1.0]
    assert o2.stability == pytest.approx(0.5)  # (J+F)/2 = 0, 1


def test_lvos_explicit_ranges():
    gt = {f: two_objects() for f in names(6)}
    ranges = {1: FrameRange("00000", "00005"), 2: FrameRange("00002", "00004")}
    o1, o2 = evaluate_sequence(gt, dict(gt), protocol="lvos", ranges=ranges).objects
    assert len(o1.frames) == 4
    assert o2.frames == ("00003",)


def test_lvos_unknown_prediction_id():
    gt = {f: two_objects() for f in names(4)}
    pred = {f: two_objects() for f in names(4)}
    pred["00002"] = pred["00002"].copy()
    pred["00002"][0, 7] = 9
    with pytest.raises(UnknownObjectError, match=r"s/00002.*object id 9"):
        evaluate_sequence(gt, pred, protocol="lvos", name="s")


def test_bad_protocol_name():
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_sequence({"0": two_objects()}, {}, protocol="semi")


def test_results_are_frozen():
    gt, pred = semi_case()
    o = evaluate_sequence(gt, pred).objects[0]
    with pytest.raises(AttributeError):
        o.object_id = 3
    with pytest.raises(ValueError):
        o.j[0] = 0.0
