"""Output sinks and the progress of work of unknown length."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from vosam.engines.base import StepResult, confidence_of, onehot
from vosam.io import read_mask
from vosam.playback import x3_order
from vosam.progress import Progress
from vosam.sinks import (
    LastVisitSink,
    MaskSink,
    OverlaySink,
    PaletteSink,
    PaletteZipSink,
    PreviewSink,
    ScoreSink,
    VisJsonSink,
    abort_all,
    close_all,
    write_all,
)


def result_of(mask: np.ndarray) -> StepResult:
    probs = onehot(mask, (1, 2))
    return StepResult(probs, (1, 2), confidence_of(probs))


def test_palette_score_and_preview_sinks_write_each_frame(tmp_path):
    image = np.full((6, 8, 3), 40, np.uint8)
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 2:5] = 2
    preview = tmp_path / "live.jpg"
    sinks = [PaletteSink(tmp_path), ScoreSink(tmp_path), PreviewSink(preview)]
    write_all(sinks, 0, "00000", image, result_of(mask))
    first = preview.read_bytes()
    mask[4:6, 0:2] = 1
    write_all(sinks, 1, "00001", image, result_of(mask))
    close_all(sinks)
    np.testing.assert_array_equal(read_mask(tmp_path / "00001.png"), mask)
    np.testing.assert_array_equal(np.load(tmp_path / "00001.npy"), onehot(mask, (1, 2)))
    assert preview.read_bytes() != first  # replaced by the latest frame
    assert Image.open(io.BytesIO(preview.read_bytes())).size == (8, 6)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000.npy",
        "00000.png",
        "00001.npy",
        "00001.png",
        "live.jpg",
    ]


class _Failing(MaskSink):
    def write(self, index, name, image, result):
        pass

    def close(self):
        raise OSError("disk full")


def test_a_failing_close_aborts_the_sinks_after_it(tmp_path):
    video = tmp_path / "ov.mp4"
    overlay = OverlaySink.to(video, 10, (6, 8))
    overlay.write(0, "00000", np.zeros((6, 8, 3), np.uint8), result_of(np.zeros((6, 8), np.uint8)))
    with pytest.raises(OSError, match="disk full"):
        close_all([_Failing(), overlay])
    assert list(tmp_path.iterdir()) == []  # the overlay's temporary file is gone
    abort_all([overlay])  # aborting twice is harmless


def test_progress_of_unknown_length_shows_rate_and_latency_without_eta():
    out = io.StringIO()
    waiting = [3]
    bar = Progress(None, "frames", stream=out, every=0.0, behind=lambda: waiting[0])
    bar.update()
    waiting[0] = 1
    bar.update()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("frames 1  ") and lines[0].endswith("frames/s  3 behind")
    assert lines[1].startswith("frames 2  ") and lines[1].endswith("1 behind")
    assert "ETA" not in out.getvalue() and "%" not in out.getvalue()


class _Record(MaskSink):
    def __init__(self):
        self.got, self.ended = [], None

    def write(self, index, name, image, result):
        self.got.append((index, name, int(result.mask.max())))

    def close(self):
        self.ended = "closed"

    def abort(self):
        self.ended = "aborted"


def test_last_visit_sink_passes_on_each_named_frame_once_from_its_last_visit():
    plays = x3_order(4)  # 0 1 2 3 2 1 0 1 2 3
    inner = _Record()
    sink = LastVisitSink(inner, plays, names=["00000", "00001", "00003"])
    image = np.zeros((2, 2, 3), np.uint8)
    for step, index in enumerate(plays):
        mask = np.full((2, 2), step, np.uint8)  # the step is the mask: which visit got through
        sink.write(index, f"{index:05d}", image, result_of(mask % 3))
    # frame 0 last at step 6, frame 1 at 7, frame 3 at 9; frame 2 is not named
    assert inner.got == [(0, "00000", 6 % 3), (1, "00001", 7 % 3), (3, "00003", 9 % 3)]
    assert sink.written == 3
    with pytest.raises(ValueError, match="frame 3 \\('00003'\\) is played more often"):
        sink.write(3, "00003", image, result_of(np.zeros((2, 2), np.uint8)))
    sink.close()
    assert inner.ended == "closed"
    LastVisitSink(inner, plays).abort()
    assert inner.ended == "aborted"


def _uncompressed(size, runs):
    """Compressed RLE of the column-major ``runs`` (from 0s), through pycocotools' own
    conversion of uncompressed RLE (not the mask encoder the sink uses)."""
    api = pytest.importorskip("pycocotools.mask")
    rle = api.frPyObjects({"size": size, "counts": runs}, *size)
    return {"size": size, "counts": rle["counts"].decode()}


def test_vis_json_sink_writes_one_entry_per_object_on_close(tmp_path):
    pytest.importorskip("pycocotools")
    path = tmp_path / "results.json"
    sink = VisJsonSink(path)
    image = np.zeros((2, 3, 3), np.uint8)
    sink.video(4, ["a", "b"], [9, 5])
    one = np.array([[1, 0, 2], [1, 0, 0]], np.uint8)  # column-major: 1 1 0 0 2 0
    sink.write(0, "b", image, result_of(np.zeros((2, 3), np.uint8)))
    sink.write(1, "a", image, result_of(one))
    sink.write(0, "b", image, result_of(np.full((2, 3), 2, np.uint8)))  # replaces the first
    sink.video(6, ["c"], [5])
    sink.write_mask("c", np.zeros((2, 3), np.uint8))
    assert not path.exists()
    sink.close()
    assert json.loads(path.read_text()) == [
        {
            "video_id": 4,
            "category_id": 9,
            "score": 1.0,
            "segmentations": [_uncompressed([2, 3], [0, 2, 4]), _uncompressed([2, 3], [6])],
        },
        {
            "video_id": 4,
            "category_id": 5,
            "score": 1.0,
            "segmentations": [_uncompressed([2, 3], [4, 1, 1]), _uncompressed([2, 3], [0, 6])],
        },
        {
            "video_id": 6,
            "category_id": 5,
            "score": 1.0,
            "segmentations": [_uncompressed([2, 3], [6])],
        },
    ]


def test_vis_json_sink_writes_nothing_on_abort_or_with_a_frame_missing(tmp_path):
    pytest.importorskip("pycocotools")
    path = tmp_path / "results.json"
    sink = VisJsonSink(path)
    sink.video(1, ["a", "b"], [1])
    sink.write_mask("a", np.ones((2, 2), np.uint8))
    with pytest.raises(ValueError, match="video 1 has no frame 'z'"):
        sink.write_mask("z", np.ones((2, 2), np.uint8))
    with pytest.raises(ValueError, match="video 1 lacks frame 'b'"):
        sink.close()
    assert list(tmp_path.iterdir()) == []
    sink.write_mask("b", np.ones((2, 2), np.uint8))
    sink.abort()  # complete, but the run failed
    assert list(tmp_path.iterdir()) == []


def test_palette_zip_sink_holds_one_png_per_frame_and_nothing_on_abort(tmp_path):
    mask = np.zeros((3, 4), np.uint8)
    mask[1, 1:3] = 2
    path = tmp_path / "masks.zip"
    sink = PaletteZipSink(path)
    sink.write(0, "00000", np.zeros((3, 4, 3), np.uint8), result_of(mask))
    sink.write_mask("00001", mask == 2)
    assert not path.exists()
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["masks.zip"]
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["00000.png", "00001.png"]
        first = Image.open(io.BytesIO(archive.read("00000.png")))
        second = Image.open(io.BytesIO(archive.read("00001.png")))
    assert first.mode == "P"
    np.testing.assert_array_equal(np.asarray(first), mask)
    np.testing.assert_array_equal(np.asarray(second), (mask == 2).astype(np.uint8))
    failed = PaletteZipSink(tmp_path / "other.zip")
    failed.write_mask("00000", mask)
    failed.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["masks.zip"]
