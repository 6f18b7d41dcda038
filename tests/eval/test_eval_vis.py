"""YouTube-VIS: constructed cases with known AP, video IoU by hand, COCO as an oracle."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

mask_api = pytest.importorskip("pycocotools.mask")

from vosam.eval import ResultsFormatError, evaluate_vis  # noqa: E402
from vosam.eval.report import write_vis_report  # noqa: E402
from vosam.eval.vis import video_iou  # noqa: E402

H, W = 6, 8


def rle(mask: np.ndarray) -> dict:
    r = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode("ascii")
    return r


def square(y: int, x: int, size: int = 2) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + size, x : x + size] = True
    return m


def ground_truth(tracks: list[tuple[int, int, list]], n_frames: int = 2, n_videos: int = 1):
    videos = [
        {"id": v, "height": H, "width": W, "length": n_frames} for v in range(1, n_videos + 1)
    ]
    anns = [
        {
            "id": i + 1,
            "video_id": vid,
            "category_id": cat,
            "iscrowd": 0,
            "segmentations": [None if m is None else rle(m) for m in masks],
        }
        for i, (vid, cat, masks) in enumerate(tracks)
    ]
    return {"videos": videos, "categories": [{"id": 1, "name": "cat"}], "annotations": anns}


def result(vid: int, score: float, masks: list) -> dict:
    return {
        "video_id": vid,
        "category_id": 1,
        "score": score,
        "segmentations": [None if m is None else rle(m) for m in masks],
    }


GT_TRACK = [square(0, 0), square(2, 2)]


def test_perfect_track_scores_one():
    gt = ground_truth([(1, 1, GT_TRACK)])
    res = evaluate_vis(gt, [result(1, 0.9, GT_TRACK)])
    # precision is tp / (tp + fp + eps), as in COCO: 1 - 2e-16 rather than 1
    assert list(res.summary.values()) == pytest.approx([1.0] * 5, abs=1e-12)


def test_false_positive_ranked_first_halves_precision():
    gt = ground_truth([(1, 1, GT_TRACK)])
    wrong = [square(4, 6), square(4, 6)]
    res = evaluate_vis(gt, [result(1, 0.9, wrong), result(1, 0.8, GT_TRACK)])
    # ranked: FP then TP → precision 1/2 at every recall point up to 1
    assert res.ap == pytest.approx(0.5)
    assert res.ap50 == pytest.approx(0.5)
    assert res.ar1 == 0.0  # the single top track is the wrong one
    assert res.ar10 == 1.0


def test_video_iou_sums_over_frames():
    g = [[rle(square(0, 0)), rle(square(2, 2))]]  # 4 + 4 pixels
    d = [[rle(square(0, 1)), None]]  # frame 0: 2 shared of 6; frame 1: nothing predicted
    assert video_iou(d, g)[0, 0] == pytest.approx(2 / (6 + 4))
    assert video_iou([[None, None]], [[None, None]])[0, 0] == 0.0


def test_iou_between_thresholds():
    track = [square(0, 0), square(2, 2), square(2, 4)]
    pred = [square(0, 0), square(2, 2), square(2, 5)]  # last frame 2 / 6
    gt = ground_truth([(1, 1, track)], n_frames=3)
    iou = (4 + 4 + 2) / (4 + 4 + 6)  # 0.714…: matched at 0.50 … 0.70, not from 0.75
    assert video_iou([[rle(m) for m in pred]], [[rle(m) for m in track]])[0, 0] == pytest.approx(
        iou
    )
    res = evaluate_vis(gt, [result(1, 0.5, pred)])
    assert res.ap == pytest.approx(5 / 10)
    assert res.ap50 == pytest.approx(1.0) and res.ap75 == 0.0


def test_only_the_best_match_counts_once():
    gt = ground_truth([(1, 1, GT_TRACK)])
    res = evaluate_vis(gt, [result(1, 0.9, GT_TRACK), result(1, 0.8, GT_TRACK)])
    # the duplicate is a false positive after the true one: precision stays 1 up to recall 1
    assert res.ap == pytest.approx(1.0)


def test_crowd_tracks_are_ignored():
    gt = ground_truth([(1, 1, GT_TRACK), (1, 1, [square(4, 6), square(4, 6)])])
    gt["annotations"][1]["iscrowd"] = 1
    res = evaluate_vis(gt, [result(1, 0.9, [square(4, 6), square(4, 6)]), result(1, 0.5, GT_TRACK)])
    assert res.ap == pytest.approx(
        1.0
    )  # matching the crowd region is neither a true nor a false positive


def test_category_without_ground_truth_is_minus_one():
    gt = ground_truth([(1, 1, GT_TRACK)])
    gt["categories"].append({"id": 2, "name": "absent"})
    res = evaluate_vis(gt, [result(1, 0.9, GT_TRACK)])
    assert dict(res.per_category) == pytest.approx({1: 1.0, 2: -1.0})
    assert res.ap == pytest.approx(1.0)


def _coco_from_frames(gt_masks, dets):
    """The same data as COCO images: one image per single-frame video."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i + 1, "height": H, "width": W} for i in range(len(gt_masks))]
    anns = []
    for i, masks in enumerate(gt_masks):
        for m in masks:
            r = rle(m)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "segmentation": r,
                    "area": float(m.sum()),
                    "bbox": list(mask_api.toBbox(r)),
                    "iscrowd": 0,
                }
            )
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        dt = coco.loadRes(
            [
                {"image_id": img, "category_id": 1, "score": s, "segmentation": rle(m)}
                for img, s, m in dets
            ]
        )
        ev = COCOeval(coco, dt, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [ev.stats[i] for i in (0, 1, 2, 6, 7)]


def test_single_frame_videos_match_coco_image_ap():
    rng = np.random.default_rng(3)
    for _ in range(5):
        gt_masks, dets = [], []
        for img in range(1, 5):
            masks = [square(int(rng.integers(0, 4)), int(rng.integers(0, 6)), 2) for _ in range(2)]
            gt_masks.append(masks)
            for m in masks:
                if rng.random() < 0.8:
                    p = np.roll(m, int(rng.integers(-1, 2)), axis=1)
                    dets.append((img, float(rng.random()), p))
            dets.append((img, float(rng.random()), square(4, 6, 2)))
        expected = _coco_from_frames(gt_masks, dets)
        gt = {
            "videos": [{"id": i + 1, "height": H, "width": W, "length": 1} for i in range(4)],
            "categories": [{"id": 1}],
            "annotations": [
                {"id": n, "video_id": i + 1, "category_id": 1, "segmentations": [rle(m)]}
                for n, (i, m) in enumerate(
                    ((i, m) for i, ms in enumerate(gt_masks) for m in ms), start=1
                )
            ],
        }
        res = evaluate_vis(gt, [result(img, s, [m]) for img, s, m in dets])
        assert list(res.summary.values()) == pytest.approx(expected, abs=1e-12)


def test_input_errors(tmp_path):
    gt = ground_truth([(1, 1, GT_TRACK)])
    with pytest.raises(ResultsFormatError, match="video_id 7 is not in the ground truth"):
        evaluate_vis(gt, [result(7, 0.9, GT_TRACK)])
    with pytest.raises(ResultsFormatError, match="has 1 segmentations for 2 frames"):
        evaluate_vis(gt, [result(1, 0.9, GT_TRACK[:1])])
    big = np.zeros((H + 1, W), bool)
    with pytest.raises(ResultsFormatError, match="segmentation is 8×7 but the video is 8×6"):
        evaluate_vis(gt, [result(1, 0.9, [big, big])])
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsFormatError, match=r"results\.json: cannot read the results JSON"):
        evaluate_vis(gt, bad)
    with pytest.raises(ResultsFormatError, match=r"missing\.json: ground-truth file does not"):
        evaluate_vis(tmp_path / "missing.json", [])
    with pytest.raises(ResultsFormatError, match="not a YouTube-VIS ground truth"):
        evaluate_vis({"videos": []}, [])


def test_empty_results_and_files(tmp_path):
    gt = ground_truth([(1, 1, GT_TRACK)])
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text("[]")
    res = evaluate_vis(tmp_path / "gt.json", tmp_path / "res.json")
    assert res.ap == 0.0 and res.ar10 == 0.0
    write_vis_report(res, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["AP"] == 0.0
    assert (tmp_path / "out" / "categories.csv").read_text().startswith("category_id,name,AP")
    assert (tmp_path / "out" / "plots" / "ap_per_category.png").is_file()


def test_cli_vis(tmp_path, capsys):
    from vosam.cli import main

    gt = ground_truth([(1, 1, GT_TRACK)])
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps([result(1, 0.9, GT_TRACK)]))
    out = tmp_path / "out"
    args = ["eval", str(tmp_path / "gt.json"), str(tmp_path / "res.json"), "--task", "vis"]
    assert main([*args, "--out", str(out), "--no-plots"]) == 0
    assert "AP50" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["AR10"] == 1.0
    (tmp_path / "res.json").write_text(json.dumps([result(3, 0.9, GT_TRACK)]))
    assert main(args) == 2
    assert "res.json: result #0: video_id 3 is not in the ground truth" in capsys.readouterr().err
