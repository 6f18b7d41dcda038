"""YouTube-VIS / OVIS: JSON videos and tracks, RLE and polygons, results JSON, AP."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.datasets.conftest import square, truth
from vosam.cli import main
from vosam.datasets import LayoutMismatch, open_dataset
from vosam.datasets.youtube_vis import decode_segmentation

pytest.importorskip("pycocotools")


def test_tracks_become_objects_from_their_first_frame(youtube_vis: Path):
    (seq,) = open_dataset("youtube-vis", youtube_vis)
    assert seq.name == "v"
    assert seq.frames == youtube_vis / "train" / "JPEGImages" / "v"
    assert dict(seq.starts) == {1: "00000", 2: "00002"}
    assert dict(seq.category) == {1: "car", 2: "person"}
    assert list(seq.inputs) == ["00000", "00002"]
    # RLE on frame 0; the polygon of the late track on frame 2, only it taken there
    np.testing.assert_array_equal(seq.inputs["00000"].load(truth(0).shape), truth(0, (1,)))
    late = seq.inputs["00002"].load(truth(0).shape)
    assert set(np.unique(late)) == {0, 2}
    ys, xs = square(2, 2)
    inside = late[ys, xs] == 2
    assert inside.mean() > 0.9  # polygon rasterisation may differ on the last row/column
    assert (late == 2).sum() <= (ys.stop - ys.start + 1) * (xs.stop - xs.start + 1)


def test_uncompressed_rle_decodes_like_compressed():
    mask = np.zeros((5, 4), bool)
    mask[1:3, 2:4] = True
    # column-major runs: 0s then 1s alternating, starting with 0s
    flat = mask.flatten(order="F").astype(int)
    runs, value, count = [], 0, 0
    for v in flat:
        if v == value:
            count += 1
        else:
            runs.append(count)
            value, count = v, 1
    runs.append(count)
    np.testing.assert_array_equal(decode_segmentation({"size": [5, 4], "counts": runs}, 5, 4), mask)


def test_ovis_and_2021_layouts(youtube_vis: Path, tmp_path: Path):
    ovis = tmp_path / "ovis"
    (ovis / "train").mkdir(parents=True)
    shutil.copytree(youtube_vis / "train" / "JPEGImages" / "v", ovis / "train" / "v")
    shutil.copy(youtube_vis / "train.json", ovis / "annotations_train.json")
    (seq,) = open_dataset("youtube-vis", ovis)
    assert seq.frames == ovis / "train" / "v"
    shutil.move(youtube_vis / "train.json", youtube_vis / "train" / "instances.json")
    (seq,) = open_dataset("youtube-vis", youtube_vis)
    assert seq.frames == youtube_vis / "train" / "JPEGImages" / "v"


def test_wrong_root_and_split_without_annotations(youtube_vis: Path, tmp_path: Path):
    with pytest.raises(LayoutMismatch, match=r"annotations_train.json \+ train/ \(OVIS\)"):
        open_dataset("youtube-vis", tmp_path)
    data = json.loads((youtube_vis / "train.json").read_text())
    data["annotations"] = []
    (youtube_vis / "train.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="video 'v' has no annotated instance"):
        open_dataset("youtube-vis", youtube_vis)


def test_cli_results_json_scores_with_eval(youtube_vis, tmp_path, capsys, cli_tiny_engine):
    out = tmp_path / "o"
    args = ["dataset", str(youtube_vis), "--format", "youtube-vis", "--out", str(out), "--quiet"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert [(r["video_id"], r["category_id"], len(r["segmentations"])) for r in results] == [
        (7, 3, 6),
        (7, 1, 6),
    ]
    capsys.readouterr()
    gt = str(youtube_vis / "train.json")
    assert main(["eval", gt, str(out / "results.json"), "--task", "vis"]) == 0
    table = capsys.readouterr().out.splitlines()
    ap = float(table[1].split()[0])
    assert 0.3 < ap <= 1.0


def test_results_json_of_a_session_run_equals_the_one_gathered_from_pngs(
    youtube_vis, tmp_path, cli_tiny_engine
):
    from vosam.datasets.runner import sequence_steps
    from vosam.io import FolderSource
    from vosam.sinks import VisJsonSink

    out = tmp_path / "o"
    args = ["dataset", str(youtube_vis), "--format", "youtube-vis", "--out", str(out), "--quiet"]
    assert main(args) == 0
    (seq,) = open_dataset("youtube-vis", youtube_vis)
    live = tmp_path / "live.json"
    sink = VisJsonSink(live)
    with FolderSource(seq.frames) as source:
        sink.video(7, source.names, [3, 1])
        for step in sequence_steps(seq, source, cli_tiny_engine):
            sink.write(step.index, source.names[step.index], step.image, step.result)
    sink.close()
    assert live.read_bytes() == (out / "results.json").read_bytes()
    assert len(json.loads(live.read_text())) == 2
