"""Writes a synthetic video as an MPEG-TS stream, in real time: ``python streamer.py FRAMES
FPS [HOLD]`` to standard output, the way a camera or ``ffmpeg -f mpegts -`` would (run as a
child process by the streaming tests), then keeps the stream open ``HOLD`` seconds without
sending anything (a stalled camera). Frames: a striped red square moving, a blue one still."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import BinaryIO

import av
import numpy as np

H, W = 96, 128


def frames(count: int, seed: int = 0) -> Iterator[np.ndarray]:
    """``count`` frames ``uint8 (96, 128, 3)``: object 1 (red, striped) moves right and
    back, object 2 (blue) stays; over a blocky textured background."""
    rng = np.random.default_rng(seed)
    bg = np.kron(
        (rng.random((H // 8, W // 8, 3)) * 120).astype(np.uint8), np.ones((8, 8, 1), np.uint8)
    )
    for t in range(count):
        image = bg.copy()
        x = 10 + 3 * (t % 16)
        image[20:44, x : x + 24] = (230, 0, 0)
        image[20:44:4, x : x + 24] = (250, 250, 40)
        image[60:80, 96:116] = (0, 0, 220)
        yield image


def stream(out: BinaryIO, count: int, fps: float, hold: float = 0.0) -> None:
    """MPEG-TS (MPEG-2 video, every frame a keyframe) of ``count`` frames at ``fps``."""
    container = av.open(out, mode="w", format="mpegts")
    video = container.add_stream("mpeg2video", rate=int(fps))
    video.width, video.height, video.pix_fmt = W, H, "yuv420p"
    video.gop_size = 1
    video.bit_rate = 4_000_000
    start = time.monotonic()
    try:
        for t, image in enumerate(frames(count)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
            out.flush()
            delay = start + (t + 1) / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        time.sleep(hold)
        for packet in video.encode(None):
            container.mux(packet)
    except OSError:  # the reader went away (a closed pipe or connection)
        return
    finally:
        with contextlib.suppress(av.FFmpegError, OSError):
            container.close()


if __name__ == "__main__":
    with contextlib.suppress(OSError):
        hold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
        stream(sys.stdout.buffer, int(sys.argv[1]), float(sys.argv[2]), hold)
