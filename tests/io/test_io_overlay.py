from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vosam.errors import OutputError
from vosam.io import OverlayVideoWriter, VideoSource, overlay, save_overlay_png


def _square_mask() -> np.ndarray:
    mask = np.zeros((8, 8), np.uint8)
    mask[2:7, 1:6] = 2
    mask[0, 7] = 255
    return mask


def test_overlay_fill_and_contour_exact() -> None:
    image = np.full((8, 8, 3), 100, np.uint8)
    out = overlay(image, _square_mask(), alpha=0.5)
    green = [0, 128, 0]
    fill = [50, 114, 50]  # round(0.5 * 100 + 0.5 * colour)
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)
    expected = np.full((8, 8, 3), 100, np.uint8)
    expected[2:7, 1:6] = green  # 1 px outline inside the object
    expected[3:6, 2:5] = fill
    np.testing.assert_array_equal(out, expected)  # void (0, 7) and background untouched
    np.testing.assert_array_equal(image, 100)  # input not modified


def test_overlay_without_contour_and_ids_keep_colours() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    mask = np.array([[0, 1, 3], [4, 4, 255]], np.uint8)
    out = overlay(image, mask, alpha=1.0, contour=0)
    assert out.tolist() == [
        [[0, 0, 0], [128, 0, 0], [128, 128, 0]],
        [[0, 0, 128], [0, 0, 128], [0, 0, 0]],
    ]
    with pytest.raises(ValueError, match="alpha"):
        overlay(image, mask, alpha=1.5)
    with pytest.raises(ValueError, match="must be"):
        overlay(image, mask[:, :2])


def test_save_overlay_png(tmp_path: Path) -> None:
    image = np.full((8, 8, 3), 100, np.uint8)
    save_overlay_png(tmp_path / "o.png", image, _square_mask())
    with Image.open(tmp_path / "o.png") as png:
        np.testing.assert_array_equal(np.asarray(png), overlay(image, _square_mask()))


def test_video_writer_pads_odd_size_and_counts_frames(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with OverlayVideoWriter(path, fps=29.97, size=(21, 31)) as writer:
        for i in range(5):
            image = np.full((21, 31, 3), 40 * i, np.uint8)
            mask = np.zeros((21, 31), np.uint8)
            mask[5:15, 5:15] = 1
            writer.write(image, mask if i % 2 else None)
        assert not path.exists()  # only the temporary file so far
    assert writer.frames_written == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    video = VideoSource(path)
    assert len(video) == 5
    assert video.size == (22, 32)
    plain = video.read(4).astype(int)  # grey 160, no mask
    np.testing.assert_allclose(plain[10, 10], [160, 160, 160], atol=4)
    assert plain[21, :].max() <= 12 and plain[:, 31].max() <= 12  # black padding
    blended = video.read(3).astype(int)  # grey 120 under id 1 (128, 0, 0) at alpha 0.5
    np.testing.assert_allclose(blended[10, 10], [124, 60, 60], atol=8)
    with av.open(str(path)) as container:
        decoder = container.streams.video[0].codec_context.name
    assert decoder == {"libx264": "h264", "mpeg4": "mpeg4"}[writer.codec]


def test_video_writer_exception_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mkv"
    path_before = tmp_path / "keep.mkv"
    with pytest.raises(RuntimeError, match="stop"), OverlayVideoWriter(path, 10, (8, 8)) as w:
        w.write(np.zeros((8, 8, 3), np.uint8))
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="no frames were written"):
        OverlayVideoWriter(path_before, 10, (8, 8)).close()
    assert list(tmp_path.iterdir()) == []


def test_video_writer_rejects_wrong_frames(tmp_path: Path) -> None:
    writer = OverlayVideoWriter(tmp_path / "v.mp4", 10, (8, 8))
    with pytest.raises(ValueError, match="expected a uint8 frame"):
        writer.write(np.zeros((8, 9, 3), np.uint8))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_video_writer_falls_back_to_mpeg4(tmp_path: Path, monkeypatch) -> None:
    real_codec = av.Codec

    def without_x264(name: str, mode: str = "r"):
        if name == "libx264":
            raise av.codec.codec.UnknownCodecError(name)
        return real_codec(name, mode)

    monkeypatch.setattr(av, "Codec", without_x264)
    path = tmp_path / "fallback.avi"
    with OverlayVideoWriter(path, 12, (16, 16)) as writer:
        for _ in range(3):
            writer.write(np.zeros((16, 16, 3), np.uint8))
    assert writer.codec == "mpeg4"
    assert len(VideoSource(path)) == 3
