from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosam.errors import CorruptFrameError, FrameSourceError
from vosam.io import (
    FolderSource,
    VideoSource,
    natural_sorted,
    open_source,
    write_frame_map,
)


def test_natural_sort_orders_numbers_by_value() -> None:
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame02.png", "a.png", "frame1b.png"]
    assert natural_sorted(names) == [
        "a.png",
        "Frame1.png",
        "frame1b.png",
        "frame2.png",
        "frame02.png",
        "frame10.png",
    ]


def _frame(i: int, h: int = 6, w: int = 5) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, name in [(0, "f_1.png"), (1, "f_2.PNG"), (2, "f_10.png"), (3, "f_11.png")]:
        Image.fromarray(_frame(i)).save(folder / name)
    (folder / "notes.txt").write_text("not a frame")
    (folder / "._f_1.png").write_bytes(b"resource fork junk")
    return folder


def test_folder_source_reads_frames_exactly_in_natural_order(png_folder: Path) -> None:
    with FolderSource(png_folder) as source:
        assert len(source) == 4
        assert source.names == ("f_1", "f_2", "f_10", "f_11")
        assert source.size == (6, 5)
        assert source.path == png_folder
        assert source.source_file(1) == "f_2.PNG"
        for i in range(4):
            image = source.read(i)
            assert image.dtype == np.uint8
            np.testing.assert_array_equal(image, _frame(i))
        np.testing.assert_array_equal(source.read(-1), _frame(3))
        seen = [(i, image.copy()) for i, image in source]
        assert [i for i, _ in seen] == [0, 1, 2, 3]
        for i, image in seen:
            np.testing.assert_array_equal(image, _frame(i))
        assert [i for i, _ in source.frames(2)] == [2, 3]
        with pytest.raises(IndexError):
            source.read(4)


def test_grey_and_rgba_frames_become_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.full((2, 3), 7, np.uint8)).save(tmp_path / "0.png")
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[..., 3] = 0
    Image.fromarray(rgba).save(tmp_path / "1.png")
    source = FolderSource(tmp_path)
    np.testing.assert_array_equal(source.read(0), np.full((2, 3, 3), 7, np.uint8))
    np.testing.assert_array_equal(source.read(1), np.broadcast_to([10, 20, 30], (2, 3, 3)))


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="frame folder does not exist") as info:
        FolderSource(tmp_path / "nope")
    assert info.value.path == tmp_path / "nope"


def test_folder_without_frames(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(FrameSourceError, match=r"no frames: expected \.jpg"):
        FolderSource(tmp_path)


def test_garbage_image_named_at_open(png_folder: Path) -> None:
    (png_folder / "f_5.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(FrameSourceError, match="not a readable image") as info:
        FolderSource(png_folder)
    assert info.value.path == png_folder / "f_5.jpg"
    assert str(info.value).startswith(str(png_folder / "f_5.jpg") + ": ")


def test_truncated_image_named_when_read(png_folder: Path) -> None:
    data = (png_folder / "f_10.png").read_bytes()
    (png_folder / "f_10.png").write_bytes(data[: len(data) // 2])
    source = FolderSource(png_folder)
    with pytest.raises(FrameSourceError, match="cannot decode image") as info:
        source.read(2)
    assert info.value.path == png_folder / "f_10.png"
    with pytest.raises(FrameSourceError):
        list(source)


def test_jpeg_frames_decode_to_the_same_pixels_as_pil(tmp_path: Path) -> None:
    """JPEGs take a faster decoder; pixels must equal PIL's, colour and grey alike."""
    rng = np.random.default_rng(3)
    smooth = np.kron(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    Image.fromarray(smooth).save(tmp_path / "a.jpg", quality=90)
    Image.fromarray(smooth).convert("L").save(tmp_path / "b.jpg")
    source = FolderSource(tmp_path)
    for index, name in enumerate(("a.jpg", "b.jpg")):
        expected = np.asarray(Image.open(tmp_path / name).convert("RGB"))
        np.testing.assert_array_equal(source.read(index), expected)


def test_truncated_jpeg_named_when_read(tmp_path: Path) -> None:
    Image.fromarray(_frame(1, h=48, w=64)).save(tmp_path / "a.jpg")
    Image.fromarray(_frame(2, h=48, w=64)).save(tmp_path / "b.jpg")
    data = (tmp_path / "b.jpg").read_bytes()
    (tmp_path / "b.jpg").write_bytes(data[: len(data) // 2])
    source = FolderSource(tmp_path)
    assert source.read(0).shape == (48, 64, 3)
    with pytest.raises(FrameSourceError, match="cannot decode image") as info:
        source.read(1)
    assert info.value.path == tmp_path / "b.jpg"


def test_frame_of_other_size_named_with_both_sizes(png_folder: Path) -> None:
    Image.fromarray(_frame(9, h=7, w=5)).save(png_folder / "f_3.png")
    with pytest.raises(FrameSourceError) as info:
        FolderSource(png_folder)
    assert str(info.value) == (
        f"{png_folder / 'f_3.png'}: frame is 5×7 but f_1.png frame is 5×6; "
        "all frames of a video must have the same size"
    )


def test_two_frames_with_one_stem(png_folder: Path) -> None:
    Image.fromarray(_frame(0)).save(png_folder / "f_2.jpg")
    with pytest.raises(FrameSourceError, match="two frames share the name 'f_2'"):
        FolderSource(png_folder)


def test_open_source_dispatch(png_folder: Path, lossless_mkv: Path, tmp_path: Path) -> None:
    assert isinstance(open_source(png_folder), FolderSource)
    with open_source(lossless_mkv) as video:
        assert isinstance(video, VideoSource)
    with pytest.raises(FrameSourceError, match="no such video file or frame folder") as info:
        open_source(tmp_path / "missing.mp4")
    assert info.value.path == tmp_path / "missing.mp4"


def test_write_frame_map(png_folder: Path, lossless_mkv: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "run1"
    written = write_frame_map(out, FolderSource(png_folder))
    assert written == out / "frames.csv"
    with written.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["index", "name", "source_file"],
        ["0", "f_1", "f_1.png"],
        ["1", "f_2", "f_2.PNG"],
        ["2", "f_10", "f_10.png"],
        ["3", "f_11", "f_11.png"],
    ]
    write_frame_map(out, VideoSource(lossless_mkv))
    lines = written.read_text().splitlines()
    assert lines[1] == "0,00000,square.mkv"
    assert lines[-1] == "11,00011,square.mkv"
    assert sorted(p.name for p in out.iterdir()) == ["frames.csv"]


def _jpeg_folder(tmp_path: Path, n: int = 3) -> tuple[Path, list[np.ndarray]]:
    from tests.corrupt import textured_frames

    folder = tmp_path / "jpegs"
    folder.mkdir()
    frames = textured_frames(n)
    for i, image in enumerate(frames):
        Image.fromarray(image).save(folder / f"{i:05d}.jpg", quality=90)
    return folder, frames


def test_jpeg_with_damaged_data_and_intact_end_marker_is_an_error(tmp_path: Path) -> None:
    from tests.corrupt import damage_jpeg_payload

    folder, _ = _jpeg_folder(tmp_path)
    damage_jpeg_payload(folder / "00001.jpg")
    # what other decoders do with it: a picture, and at most a warning on stderr
    with Image.open(folder / "00001.jpg") as image:
        assert np.asarray(image.convert("RGB")).shape == (96, 128, 3)
    source = FolderSource(folder)
    assert source.read(0).shape == (96, 128, 3)
    with pytest.raises(CorruptFrameError, match="Corrupt JPEG data") as info:
        source.read(1)
    assert info.value.path == folder / "00001.jpg" and info.value.index == 1
    with pytest.raises(CorruptFrameError):
        list(source.frames())


def test_tolerate_corrupt_skips_damaged_frames_and_lists_them(tmp_path, caplog) -> None:
    from tests.corrupt import damage_jpeg_payload

    folder, _ = _jpeg_folder(tmp_path, n=4)
    damage_jpeg_payload(folder / "00001.jpg")
    damage_jpeg_payload(folder / "00003.jpg", seed=1)
    clean = FolderSource(folder)
    source = open_source(folder, tolerate_corrupt=True)
    with caplog.at_level("WARNING", logger="vosam.io.frames"):
        got = list(source.frames())
    assert [i for i, _ in got] == [0, 2]
    np.testing.assert_array_equal(got[1][1], clean.read(2))
    assert sorted(source.skipped) == [1, 3]
    assert "Corrupt JPEG data" in source.skipped[1]
    assert sum("skipping damaged frame 00001" in r.message for r in caplog.records) == 1
    with pytest.raises(CorruptFrameError):  # by index it is still an error
        source.read(3)


def test_grey_jpeg_frames_decode_as_pil_does(tmp_path: Path) -> None:
    grey = np.asarray(Image.fromarray(_frame(4, h=32, w=40)).convert("L"))
    Image.fromarray(grey).save(tmp_path / "g.jpg")
    with Image.open(tmp_path / "g.jpg") as image:
        assert image.mode == "L"
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(FolderSource(tmp_path).read(0), expected)


def test_frame_over_the_pixel_budget_refused_from_its_header(tmp_path, monkeypatch) -> None:
    import vosam.io.frames as frames_module

    Image.fromarray(_frame(1, h=20, w=30)).save(tmp_path / "a.png")
    monkeypatch.setattr(frames_module, "MAX_FRAME_PIXELS", 599)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded"))
    with pytest.raises(FrameSourceError, match="30×20, more than 599 pixels") as info:
        FolderSource(tmp_path)
    assert info.value.path == tmp_path / "a.png"
