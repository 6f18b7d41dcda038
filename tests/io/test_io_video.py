from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from vosam.errors import CorruptFrameError, FrameSourceError
from vosam.io import VideoSource


def test_mkv_without_frame_count_is_counted_and_read_exactly(
    lossless_mkv: Path, square_frames: list[np.ndarray]
) -> None:
    with av.open(str(lossless_mkv)) as container:
        assert container.streams.video[0].frames == 0  # the header has no count
    with VideoSource(lossless_mkv) as video:
        assert len(video) == 12
        assert video.names == tuple(f"{i:05d}" for i in range(12))
        assert video.size == (48, 64)
        assert video.path == lossless_mkv
        seen = 0
        for i, image in video:
            assert i == seen
            assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
            np.testing.assert_array_equal(image, square_frames[i])
            seen += 1
        assert seen == 12
        for i in (7, 3, 11, 0, -2):
            np.testing.assert_array_equal(video.read(i), square_frames[i])
        with pytest.raises(IndexError):
            video.read(12)


def test_h264_mp4_approximate_content(
    h264_mp4: Path, square_frames: list[np.ndarray], square_colour: tuple[int, int, int]
) -> None:
    video = VideoSource(h264_mp4)
    assert len(video) == 12
    assert video.size == (48, 64)
    for i, image in video:
        diff = np.abs(image.astype(np.int16) - square_frames[i].astype(np.int16))
        assert diff.mean() < 3.0
        # the inside of the square keeps its colour
        inner = image[21:27, 4 * i + 3 : 4 * i + 9].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(inner, square_colour, atol=12)


def test_random_reads_match_sequential_decoding(
    h264_mp4: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with av.open(str(h264_mp4)) as container:
        keyframes = sum(p.is_keyframe for p in container.demux(container.streams.video[0]))
    assert keyframes >= 3  # reads of late frames must seek
    video = VideoSource(h264_mp4)
    sequential = [image for _, image in video]
    with caplog.at_level(logging.DEBUG, logger="vosam.io.video"):
        for i in (11, 5, 6, 7, 2, 9, 0, 10, 4, 8, 1, 3):
            np.testing.assert_array_equal(video.read(i), sequential[i], err_msg=f"frame {i}")
    assert "decoding from the start" not in caplog.text  # seeks landed where expected
    tail = list(video.frames(6, 9))
    assert [i for i, _ in tail] == [6, 7, 8]
    for i, image in tail:
        np.testing.assert_array_equal(image, sequential[i])
    video.close()
    np.testing.assert_array_equal(video.read(5), sequential[5])  # reopens after close


def test_random_read_recovers_when_timestamps_do_not_match(
    h264_mp4: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = VideoSource(h264_mp4)
    sequential = [image for _, image in video]
    video._index_of_pts = {}  # every seek now lands on a frame it cannot place
    with caplog.at_level(logging.DEBUG, logger="vosam.io.video"):
        np.testing.assert_array_equal(video.read(10), sequential[10])
    assert "decoding from the start" in caplog.text
    np.testing.assert_array_equal(video.read(11), sequential[11])
    with pytest.raises(ValueError, match="start"):
        next(video.frames(-1))


def test_avi_names_and_source_file(tmp_path: Path, make_video, make_square_frames) -> None:
    frames = make_square_frames(n=3, h=8, w=8)
    video = VideoSource(make_video(tmp_path / "s.avi", frames, codec="mpeg4"))
    assert video.names == ("00000", "00001", "00002")
    assert video.source_file(2) == "s.avi"


def test_missing_video(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="video file does not exist"):
        VideoSource(tmp_path / "none.mp4")


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 100])
def test_unreadable_video_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(FrameSourceError, match="not a readable video") as info:
        VideoSource(path)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")


def test_file_without_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.mkv"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(FrameSourceError, match="no video stream") as info:
        VideoSource(path)
    assert info.value.path == path


def test_damaged_payload_is_an_error_naming_the_frame(tmp_path: Path) -> None:
    from tests.corrupt import damage_mp4_payload, textured_frames, write_mp4

    frames = textured_frames(24)
    clean = list(VideoSource(write_mp4(tmp_path / "clean.mp4", frames)).frames())
    path = write_mp4(tmp_path / "v.mp4", frames)
    damage_mp4_payload(path, runs=3)
    source = VideoSource(path)
    assert len(source) == 24
    with pytest.raises(CorruptFrameError, match=r"frame 8 \(00008\) is damaged") as info:
        list(source.frames())
    assert info.value.path == path and info.value.index == 8
    with pytest.raises(CorruptFrameError):
        source.read(8)
    tolerant = VideoSource(path, tolerate_corrupt=True)
    got = dict(tolerant.frames())
    assert sorted(tolerant.skipped) == [8, 16]
    assert sorted(got) == [i for i in range(24) if i not in (8, 16)]
    np.testing.assert_array_equal(got[3], clean[3][1])  # before the damage: intact


def test_truncated_file_is_refused_unless_tolerated(tmp_path: Path) -> None:
    from tests.corrupt import textured_frames, write_mp4

    path = write_mp4(tmp_path / "v.mp4", textured_frames(24), faststart=True)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(FrameSourceError, match="header announces 24 frames but the file holds 9"):
        VideoSource(path)
    source = VideoSource(path, tolerate_corrupt=True)
    assert len(source) == 9
    # the last packets are cut short: three frames never come out of the decoder
    assert [i for i, _ in source.frames()] == list(range(6))
    assert sorted(source.skipped) == [6, 7, 8]


def test_video_over_the_pixel_budget_refused_before_decoding(
    tmp_path: Path, h264_mp4: Path, monkeypatch
) -> None:
    import vosam.io.video as video_module

    monkeypatch.setattr(video_module, "MAX_FRAME_PIXELS", 64 * 48 - 1)
    with pytest.raises(FrameSourceError, match="frames are 64×48, more than 3,071 pixels"):
        VideoSource(h264_mp4)
