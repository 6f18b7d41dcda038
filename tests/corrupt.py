"""Damaged files for tests: JPEGs and videos that decoders read with warnings at most."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
from PIL import Image


def textured_frames(n: int = 12, h: int = 96, w: int = 128, seed: int = 0) -> list[np.ndarray]:
    """``n`` frames ``uint8 (h, w, 3)`` of smoothed noise sliding right 3 px per frame (busy
    enough that a damaged byte shows)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(base).resize((w // 2, h // 2)).resize((w, h)))
    return [np.roll(base, 3 * t, axis=1) for t in range(n)]


def damage_jpeg_payload(path: Path, *, seed: int = 0) -> None:
    """Overwrite 40 bytes of a JPEG's entropy-coded data with noise, keeping every marker
    byte out and the end-of-image marker intact: Pillow and OpenCV still decode the file
    (libjpeg only prints "Corrupt JPEG data" on stderr)."""
    data = bytearray(path.read_bytes())
    start = data.index(b"\xff\xda") + 300
    assert start + 40 < len(data) - 2, "JPEG too small to damage"
    noise = np.random.default_rng(seed).integers(0, 255, 40, dtype=np.uint8)
    noise[noise == 0xFF] = 0x7F
    data[start : start + 40] = noise.tobytes()
    assert data[-2:] == b"\xff\xd9"
    path.write_bytes(bytes(data))


def write_mp4(path: Path, frames: list[np.ndarray], *, faststart: bool = False) -> Path:
    """H.264 mp4, a keyframe every 8 frames; ``faststart`` puts the index first."""
    with av.open(str(path), mode="w", options={"movflags": "faststart"} if faststart else {}) as c:
        stream = c.add_stream("libx264", rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 8
        stream.options = {"keyint": "8", "min-keyint": "8", "scenecut": "0"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    return path


def damage_mp4_payload(path: Path, *, runs: int = 10, seed: int = 0) -> None:
    """Overwrite ``runs`` 16-byte runs spread over the ``mdat`` payload with noise (the
    index stays intact, so the file opens; frames decode with concealment, or not)."""
    data = bytearray(path.read_bytes())
    at = data.index(b"mdat")
    size = struct.unpack(">I", data[at - 4 : at])[0]
    start, end = at + 4 + 500, at - 4 + size - 100
    rng = np.random.default_rng(seed)
    for k in range(start, end, (end - start) // runs):
        data[k : k + 16] = rng.integers(0, 255, 16, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
