"""Output sinks and the progress of work of unknown length."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vosam.engines.base import StepResult, confidence_of, onehot
from vosam.io import read_mask
from vosam.progress import Progress
from vosam.sinks import (
    MaskSink,
    OverlaySink,
    PaletteSink,
    PreviewSink,
    ScoreSink,
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
