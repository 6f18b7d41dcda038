"""Helpers for the io tests: tiny synthetic videos and frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

SQUARE_COLOUR = (200, 60, 30)


def moving_square(n: int = 12, h: int = 48, w: int = 64) -> list[np.ndarray]:
    """``n`` frames ``uint8 (h, w, 3)``: a 12×12 square moving right by 4 px per frame over
    a background whose blue channel changes with the frame index."""
    frames = []
    for i in range(n):
        frame = np.zeros((h, w, 3), dtype=np.uint8)
        frame[..., 2] = 10 * i
        frame[18:30, 4 * i : 4 * i + 12] = SQUARE_COLOUR
        frames.append(frame)
    return frames


def write_video(
    path: Path,
    frames: list[np.ndarray],
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
) -> Path:
    """Encode ``frames`` with PyAV (container chosen by the suffix of ``path``)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = gop
            stream.options = {"keyint": str(gop), "min-keyint": str(gop), "scenecut": "0"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def square_frames() -> list[np.ndarray]:
    return moving_square()


@pytest.fixture(scope="session")
def lossless_mkv(tmp_path_factory: pytest.TempPathFactory, square_frames) -> Path:
    """FFV1 in Matroska, RGB: decodes to exactly ``square_frames``; the header holds no
    frame count."""
    path = tmp_path_factory.mktemp("video") / "square.mkv"
    return write_video(path, square_frames, codec="ffv1", pix_fmt="bgr0")


@pytest.fixture(scope="session")
def h264_mp4(tmp_path_factory: pytest.TempPathFactory, square_frames) -> Path:
    """H.264 with a keyframe every 4 frames, so random reads must seek."""
    path = tmp_path_factory.mktemp("video") / "square.mp4"
    return write_video(path, square_frames, gop=4)


@pytest.fixture(scope="session")
def make_video():
    """The :func:`write_video` helper, for tests that need their own video."""
    return write_video


@pytest.fixture(scope="session")
def make_square_frames():
    """The :func:`moving_square` helper."""
    return moving_square


@pytest.fixture(scope="session")
def square_colour() -> tuple[int, int, int]:
    return SQUARE_COLOUR
