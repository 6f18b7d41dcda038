"""Folders on disk: layouts, parallel workers, LVOS, reports, the CLI and its errors."""

from __future__ import annotations

import csv
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from evalhelpers import box, save_grey, save_palette, write_sequence
from PIL import Image

from vosam.cli import main
from vosam.errors import MaskError
from vosam.eval import (
    SUMMARY_KEYS,
    LayoutError,
    MissingPredictionError,
    ResultsFormatError,
    UnknownObjectError,
    evaluate_dataset,
    write_report,
)
from vosam.eval.pngmask import read_label_png

H = W = 12


def obj(y0, x0, k=1, size=4):
    return box(H, W, y0, y0 + size, x0, x0 + size, k)


def make_dataset(tmp: Path, layout: str = "davis") -> tuple[Path, Path]:
    """Two sequences: 'walk' (one object moving right), 'pair' (two objects)."""
    gt_root, pred_root = tmp / "gt", tmp / "pred"
    seqs = {
        "walk": {f"{i:05d}": obj(2, i) for i in range(6)},
        "pair": {f"{i:05d}": obj(0, 0, 1) + obj(6, 6, 2) for i in range(4)},
    }
    preds = {
        "walk": {f"{i:05d}": obj(2, min(i + 1, 8)) for i in range(6)},  # one column late
        "pair": {f"{i:05d}": obj(0, 0, 1) for i in range(4)},  # object 2 never found
    }
    for name, masks in seqs.items():
        folder = {
            "davis": gt_root / "Annotations" / "480p" / name,
            "flat-annotations": gt_root / "Annotations" / name,
            "nested": gt_root / name / "Annotations",
            "flat": gt_root / name,
        }[layout]
        write_sequence(folder, masks)
        write_sequence(pred_root / name, preds[name])
    return gt_root, pred_root


@pytest.mark.parametrize("layout", ["davis", "flat-annotations", "nested", "flat"])
def test_layouts_give_the_same_result(tmp_path, layout):
    gt, pred = make_dataset(tmp_path, layout)
    res = evaluate_dataset(gt, pred, workers=1)
    assert [s.name for s in res.sequences] == ["pair", "walk"]
    pair = res.sequence("pair")
    assert pair.objects[0].j.tolist() == [1.0, 1.0]
    assert pair.objects[1].j.tolist() == [0.0, 0.0]
    walk = res.sequence("walk")
    # shifted by one column: 12 shared pixels of 20 → J = 0.6 on frames 1..4
    assert walk.objects[0].j.tolist() == pytest.approx([0.6] * 4)
    assert list(res.summary) == list(SUMMARY_KEYS)
    assert res.summary["J-Mean"] == pytest.approx((1.0 + 0.0 + 0.6) / 3)
    assert res.summary["J&F-Mean"] == pytest.approx(
        (res.summary["J-Mean"] + res.summary["F-Mean"]) / 2
    )


def test_parallel_workers_match_serial(tmp_path):
    gt, pred = make_dataset(tmp_path)
    progress = []
    serial = evaluate_dataset(gt, pred, workers=1)
    parallel = evaluate_dataset(gt, pred, workers=2, progress=lambda *a: progress.append(a))
    assert dict(serial.summary) == dict(parallel.summary)
    assert [s.name for s in parallel.sequences] == ["pair", "walk"]
    assert sorted(p[2] for p in progress) == ["pair", "walk"] and progress[-1][0] == 2


def test_errors_from_workers_keep_their_type(tmp_path):
    gt, pred = make_dataset(tmp_path)
    save_palette(pred / "walk" / "00003.png", obj(2, 3, k=4))
    with pytest.raises(UnknownObjectError, match=r"walk/00003\.png: object id 4"):
        evaluate_dataset(gt, pred, workers=2)


def test_sequence_selection(tmp_path):
    gt, pred = make_dataset(tmp_path)
    assert [s.name for s in evaluate_dataset(gt, pred, sequences="walk", workers=1).sequences] == [
        "walk"
    ]
    listing = tmp_path / "val.txt"
    listing.write_text("walk\npair\n")
    res = evaluate_dataset(gt, pred, sequences=listing, workers=1)
    assert [s.name for s in res.sequences] == ["walk", "pair"]
    with pytest.raises(LayoutError, match="no ground truth for sequence 'run'"):
        evaluate_dataset(gt, pred, sequences=["run"], workers=1)


def test_missing_prediction_folder_and_frame(tmp_path):
    gt, pred = make_dataset(tmp_path)
    (pred / "walk" / "00004.png").unlink()
    with pytest.raises(MissingPredictionError, match=r"walk/00004\.png: predicted mask is missing"):
        evaluate_dataset(gt, pred, workers=1)
    for f in (pred / "walk").iterdir():
        f.unlink()
    (pred / "walk").rmdir()
    with pytest.raises(MissingPredictionError, match="no predictions for sequence 'walk'"):
        evaluate_dataset(gt, pred, workers=1)
    with pytest.raises(MissingPredictionError, match="prediction folder does not exist"):
        evaluate_dataset(gt, tmp_path / "nowhere", workers=1)


def test_no_ground_truth(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutError, match="no sequence of ground-truth masks found"):
        evaluate_dataset(tmp_path / "empty", tmp_path, workers=1)


def test_binary_grey_masks_are_object_one(tmp_path):
    gt_root = tmp_path / "gt" / "Annotations" / "480p" / "s"
    for i in range(3):
        save_grey(gt_root / f"{i:05d}.png", obj(2, 2) * 255)
    write_sequence(tmp_path / "pred" / "s", {f"{i:05d}": obj(2, 2) for i in range(3)})
    res = evaluate_dataset(tmp_path / "gt", tmp_path / "pred", workers=1)
    assert res.objects.__next__().object_id == 1
    assert res.summary["J-Mean"] == 1.0


def _png(rows: np.ndarray, filters: list[int], colour: int) -> bytes:
    """A hand-made 8-bit PNG whose rows use the given filter types (raw bytes supplied)."""
    h, w = rows.shape

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    raw = b"".join(bytes([f]) + rows[i].tobytes() for i, f in enumerate(filters))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
    if colour == 3:
        body += chunk(b"PLTE", bytes(range(256)) * 3)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_reader_filters(tmp_path):
    values = np.array([[0, 3, 3, 0], [1, 1, 2, 0], [0, 0, 4, 4]], np.uint8)
    sub = values.copy()
    sub[:, 1:] = values[:, 1:] - values[:, :-1]  # Sub filter: differences from the left
    up = values.copy()
    up[1:] = values[1:] - values[:-1]  # Up filter (handled by Pillow)
    cases = {
        "none.png": _png(values, [0, 0, 0], 3),
        "sub.png": _png(sub, [1, 1, 1], 3),
        "mixed.png": _png(np.stack([values[0], sub[1], values[2]]), [0, 1, 0], 3),
        "up.png": _png(up, [0, 2, 2], 3),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert read_label_png(tmp_path / name).tolist() == values.tolist(), name
        assert np.asarray(Image.open(tmp_path / name)).tolist() == values.tolist()
    (tmp_path / "grey.png").write_bytes(_png(np.array([[0, 255], [255, 0]], np.uint8), [0, 0], 0))
    assert read_label_png(tmp_path / "grey.png").tolist() == [[0, 1], [1, 0]]
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(MaskError, match="unsupported image mode 'RGB'"):
        read_label_png(tmp_path / "rgb.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(MaskError, match="not a readable image"):
        read_label_png(tmp_path / "junk.png")


def make_lvos(tmp: Path) -> tuple[Path, Path]:
    gt_root, pred_root = tmp / "lvos", tmp / "lvos-pred"
    frames = [f"{5 * i + 1:08d}" for i in range(6)]  # every 5th frame annotated
    for video, late in (("seenA", False), ("unseenB", True)):
        for i, f in enumerate(frames):
            g = obj(0, 0, 1) + (obj(6, 6, 2) if (not late or i >= 2) else 0)
            save_palette(gt_root / "Annotations" / video / f"{f}.png", g)
            p = g if video == "seenA" else obj(0, 0, 1)  # unseen: object 2 never predicted
            save_palette(pred_root / video / f"{f}.png", p)
    (gt_root / "unseen_videos.txt").write_text("unseenB\n")
    return gt_root, pred_root


def test_lvos_seen_unseen_and_v(tmp_path):
    gt, pred = make_lvos(tmp_path)
    res = evaluate_dataset(gt, pred, protocol="lvos", workers=1)
    seen, unseen = res.sequence("seenA"), res.sequence("unseenB")
    assert (seen.category, unseen.category) == ("seen", "unseen")
    assert unseen.objects[1].reference_frame == "00000011"
    assert unseen.objects[1].frames == ("00000016", "00000021")
    # seen: everything perfect; unseen: object 1 perfect, object 2 J = 0 → J_unseen = 0.5
    assert res.extra["J-seen-Mean"] == 1.0
    assert res.extra["J-unseen-Mean"] == pytest.approx(0.5)
    assert res.summary["J-Mean"] == pytest.approx((1.0 + 0.5) / 2)
    assert res.summary["J&F-Mean"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert res.extra["V-Mean"] == 0.0  # constant scores: no instability


def test_lvos_meta_ranges(tmp_path):
    gt, pred = make_lvos(tmp_path)
    meta = {
        "videos": {
            "seenA": {"objects": {"1": {"frame_range": {"start": 1, "end": 27, "frame_nums": 6}}}},
            "unseenB": {
                "objects": {
                    "1": {"frame_range": {"start": 1, "end": 17, "frame_nums": 4}},
                    "2": {"frame_range": {"start": 11, "end": 27, "frame_nums": 4}},
                }
            },
        }
    }
    (gt / "valid_meta.json").write_text(json.dumps(meta))
    res = evaluate_dataset(gt, pred, protocol="lvos", workers=1)
    assert len(res.sequence("seenA").objects) == 1
    o1, o2 = res.sequence("unseenB").objects
    assert o1.frames == ("00000006", "00000011")  # range 1..16: first and last dropped
    assert o2.frames == ("00000016", "00000021")
    meta["videos"]["unseenB"]["objects"]["2"]["frame_range"]["start"] = 12
    (gt / "valid_meta.json").write_text(json.dumps(meta))
    with pytest.raises(ResultsFormatError, match="object 2: start frame 12 has no annotation"):
        evaluate_dataset(gt, pred, protocol="lvos", workers=1)
    (gt / "valid_meta.json").write_text('{"videos": [1]}')
    with pytest.raises(ResultsFormatError, match="not LVOS metadata"):
        evaluate_dataset(gt, pred, protocol="lvos", workers=1)


def test_report_files(tmp_path):
    gt, pred = make_dataset(tmp_path)
    res = evaluate_dataset(gt, pred, workers=1)
    out = tmp_path / "out"
    write_report(res, out)
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary["J-Mean"] == res.summary["J-Mean"]  # unrounded
    with open(out / "objects.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["sequence"], r["object"]) for r in rows] == [
        ("pair", "1"),
        ("pair", "2"),
        ("walk", "1"),
    ]
    assert float(rows[1]["J-Mean"]) == 0.0
    with open(out / "sequences.csv") as fh:
        assert [r["sequence"] for r in csv.DictReader(fh)] == ["pair", "walk"]
    with open(out / "frames.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 2 + 2 + 4
    for png in ("jf_per_sequence.png", "j_over_time/walk.png", "j_over_time/pair.png"):
        with Image.open(out / "plots" / png) as im:
            assert im.size[0] > 100
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_cli_writes_outputs(tmp_path, capsys):
    gt, pred = make_dataset(tmp_path)
    out = tmp_path / "report"
    code = main(["eval", str(gt), str(pred), "--out", str(out), "--workers", "1", "--no-plots"])
    assert code == 0
    captured = capsys.readouterr()
    assert "J&F-Mean" in captured.out
    assert "[2/2]" in captured.err
    assert (out / "summary.json").is_file() and not (out / "plots").exists()


def test_cli_error_is_one_line_and_writes_nothing(tmp_path, capsys):
    gt, pred = make_dataset(tmp_path)
    (pred / "pair" / "00002.png").unlink()
    out = tmp_path / "report"
    code = main(["eval", str(gt), str(pred), "--out", str(out), "--workers", "1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("vosam eval: error: ")
    assert err[0].endswith("pair/00002.png: predicted mask is missing")
    assert not out.exists()


def test_cli_unknown_id_exit_code(tmp_path, capsys):
    gt, pred = make_dataset(tmp_path)
    save_palette(pred / "walk" / "00002.png", obj(2, 2, k=7))
    assert main(["eval", str(gt), str(pred), "--workers", "1", "--quiet"]) == 2
    assert "object id 7 is not a ground-truth object" in capsys.readouterr().err


def test_import_stays_light():
    import subprocess
    import sys

    heavy = ("matplotlib", "pycocotools", "torch", "vosam.io", "cv2")
    code = (
        "import sys, vosam.eval, vosam.eval.report; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_summary_is_a_plain_dict(tmp_path):
    gt, pred = make_dataset(tmp_path)
    res = evaluate_dataset(gt, pred, workers=1)
    assert type(res.summary) is dict
    assert json.loads(json.dumps(res.summary)) == res.summary
    with pytest.raises(LayoutError, match=r"lists/val\.txt: sequence list file does not exist"):
        evaluate_dataset(gt, pred, sequences="lists/val.txt", workers=1)


def test_default_workers_leave_busy_cpus_alone(monkeypatch):
    from vosam.eval.dataset import default_workers

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    monkeypatch.setattr("os.getloadavg", lambda: (0.2, 0.0, 0.0))
    assert default_workers() == 4
    monkeypatch.setattr("os.getloadavg", lambda: (2.6, 0.0, 0.0))
    assert default_workers() == 1
    monkeypatch.setattr("os.getloadavg", lambda: (9.0, 0.0, 0.0))
    assert default_workers() == 1
