"""vos-benchmark (MIT, an independent implementation) as an oracle for J and F means, on
synthetic sequences and on the development data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

evaluator = pytest.importorskip("vos_benchmark.evaluator")

from vosam.eval import evaluate_dataset, evaluate_sequence  # noqa: E402
from vosam.eval.pngmask import read_label_png  # noqa: E402


def oracle_means(gt: dict[str, np.ndarray], pred: dict[str, np.ndarray]):
    """Per-object J and F means (fractions) by vos-benchmark, skipping first and last frame."""
    ev = evaluator.Evaluator()
    for name in sorted(gt)[1:-1]:
        ev.feed_frame(pred[name], gt[name])
    iou, bf = ev.conclude()
    return {k: (v / 100, bf[k] / 100) for k, v in iou.items()}


def perturb(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(gt)
    for k in [int(i) for i in np.unique(gt) if i]:
        m = (gt == k).astype(np.uint8)
        if rng.random() < 0.1:
            continue
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(rng.integers(1, 9)),) * 2)
        m = cv2.dilate(m, kernel) if rng.random() < 0.5 else cv2.erode(m, kernel)
        if rng.random() < 0.3:
            m = np.roll(m, int(rng.integers(-6, 7)), axis=int(rng.integers(0, 2)))
        out[m > 0] = k
    return out


def assert_same(res, oracle):
    for o in res.objects:
        j, f = oracle[o.object_id]
        assert o.j_stats.mean == pytest.approx(j, abs=1e-12)
        assert o.f_stats.mean == pytest.approx(f, abs=1e-12)


def test_synthetic_sequences_match_vos_benchmark():
    rng = np.random.default_rng(11)
    for _ in range(4):
        h, w = int(rng.integers(40, 120)), int(rng.integers(40, 160))
        gt = {}
        for t in range(8):
            g = np.zeros((h, w), np.uint8)
            for k in (1, 2, 3):
                y, x = int(rng.integers(0, h - 10)), int(rng.integers(0, w - 10))
                g[y : y + int(rng.integers(5, h // 2)), x : x + int(rng.integers(5, w // 2))] = k
            gt[f"{t:05d}"] = g
        first = sorted(gt)[1]
        for k in (1, 2, 3):  # every object visible in the first scored frame, as DAVIS has it
            gt[first][k - 1, :3] = k
            gt[sorted(gt)[0]][k - 1, :3] = k
        pred = {name: perturb(g, rng) for name, g in gt.items()}
        assert_same(evaluate_sequence(gt, pred), oracle_means(gt, pred))


@pytest.mark.data
def test_development_data_matches_vos_benchmark(data_root, tmp_path):
    rng = np.random.default_rng(5)
    sequences = [
        (data_root / "multiobject" / "Annotations" / "dogs-jump", 24),
        (data_root / "davis2016-train" / "Annotations" / "480p" / "boat", 12),
    ]
    for folder, n in sequences:
        if not folder.is_dir():
            pytest.skip(f"{folder} not found")
        files = sorted(folder.glob("*.png"))[:n]
        gt = {f.stem: read_label_png(f) for f in files}
        pred = {name: perturb(g, rng) for name, g in gt.items()}
        assert_same(evaluate_sequence(gt, pred, name=folder.name), oracle_means(gt, pred))


@pytest.mark.data
def test_sparse_annotations_folder_layout(data_root, tmp_path):
    from evalhelpers import save_palette

    root = data_root / "sparse-annotations"
    if not (root / "caps" / "Annotations").is_dir():
        pytest.skip("sparse-annotations not found")
    pred = tmp_path / "pred"
    for f in sorted((root / "caps" / "Annotations").glob("*.png")):
        save_palette(pred / "caps" / f.name, read_label_png(f))
    res = evaluate_dataset(root, pred, sequences="caps", workers=1)
    # object 2 is first annotated on frame 33: DAVIS scores the first frame's objects only
    (obj,) = res.sequence("caps").objects
    # annotated frames 0, 14, 33, 43, 66: the first and the last are not scored
    assert obj.frames == ("frame_000014", "frame_000033", "frame_000043")
    assert res.summary["J&F-Mean"] == 1.0
    res = evaluate_dataset(root, pred, sequences="caps", protocol="lvos", workers=1)
    o2 = res.sequence("caps").objects[1]
    assert o2.reference_frame == "frame_000033" and o2.frames == ("frame_000043",)
