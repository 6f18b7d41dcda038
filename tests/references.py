"""Media files that make FFmpeg read other files: playlists and lists whose entries point at
a video outside the folder they lie in (the tests check that vosam never follows them)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SECRET_FRAMES = 5
SECRET_COLOUR = (10, 200, 30)


def write_secret(path: Path, fmt: str | None = None) -> Path:
    """A small video of :data:`SECRET_FRAMES` frames of one flat colour (48×64)."""
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        image = np.zeros((48, 64, 3), np.uint8) + np.array(SECRET_COLOUR, np.uint8)
        for _ in range(SECRET_FRAMES):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def hls(entry: str) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{entry}\n#EXT-X-ENDLIST\n"


def referencing_files(folder: Path, elsewhere: Path) -> dict[str, Path]:
    """Write into ``folder`` files that name videos in ``elsewhere`` (made here): by kind,
    an HLS playlist naming a ``file://`` URL, one naming an absolute path, and a concat
    list (as ``.ffconcat`` and as ``.txt``) reaching the video through a link in ``folder``.
    FFmpeg left to itself opens each of them and decodes the other video's frames."""
    elsewhere.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    ts = write_secret(elsewhere / "secret.ts", "mpegts")
    write_secret(elsewhere / "secret.mp4")
    (folder / "elsewhere").symlink_to(elsewhere, target_is_directory=True)
    files = {
        "hls-url": folder / "url.m3u8",
        "hls-path": folder / "path.m3u8",
        "concat": folder / "list.ffconcat",
        "concat-txt": folder / "list.txt",
    }
    files["hls-url"].write_text(hls(ts.as_uri()))
    files["hls-path"].write_text(hls(str(ts)))
    concat = "ffconcat version 1.0\nfile 'elsewhere/secret.mp4'\n"
    files["concat"].write_text(concat)
    files["concat-txt"].write_text(concat)
    return files


KIND_WORDS = {
    "hls-url": "HLS playlist",
    "hls-path": "HLS playlist",
    "concat": "concat list",
    "concat-txt": "concat list",
}
"""What the refusal of each file calls it."""
