"""A video file is opened so that FFmpeg reads nothing but it: playlists and lists naming
other files are refused, naming their format; a stream URL given as such still opens."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.references import (
    KIND_WORDS,
    SECRET_COLOUR,
    SECRET_FRAMES,
    hls,
    referencing_files,
    write_secret,
)
from vosam.errors import FrameSourceError
from vosam.io import VideoSource, open_source
from vosam.io.containers import LOCAL_FORMATS
from vosam.io.stream import StreamSource


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("refs")
    return referencing_files(base / "here", base / "elsewhere")


@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
def test_a_file_naming_other_files_is_refused(references, kind):
    path = references[kind]
    with pytest.raises(FrameSourceError) as caught:
        open_source(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: is a") and KIND_WORDS[kind] in message, message
    assert "\n" not in message and "secret" not in message


def test_the_videos_they_name_open_when_named_themselves(references):
    elsewhere = references["concat"].parent / "elsewhere"
    for name in ("secret.ts", "secret.mp4"):
        with VideoSource(elsewhere / name) as video:
            assert len(video) == SECRET_FRAMES
            assert np.abs(video.read(0).mean(axis=(0, 1)) - SECRET_COLOUR).max() < 8


def test_an_image_pattern_and_other_formats_are_refused_by_name(tmp_path, square_frames):
    from PIL import Image

    for t in range(3):
        Image.fromarray(square_frames[t]).save(tmp_path / f"frame{t}.png")
    pattern = tmp_path / "frame%d.png"  # FFmpeg would read frame0.png, frame1.png, ...
    pattern.write_bytes((tmp_path / "frame0.png").read_bytes())
    with pytest.raises(FrameSourceError, match=r"image file name pattern \(FFmpeg format image2\)"):
        VideoSource(pattern)
    Image.fromarray(square_frames[0]).save(tmp_path / "one.bmp")
    with pytest.raises(FrameSourceError, match="is in FFmpeg format bmp_pipe, which vosam does"):
        VideoSource(tmp_path / "one.bmp")
    # one PNG is still a video of one frame
    with VideoSource(tmp_path / "frame1.png") as video:
        assert len(video) == 1
        np.testing.assert_array_equal(video.read(0), square_frames[1])


def test_names_that_look_like_urls_are_files(tmp_path, h264_mp4, monkeypatch):
    """A relative name such as ``concat:a|b`` is a file, never FFmpeg's protocol."""
    monkeypatch.chdir(tmp_path)
    Path("concat:x.mp4").write_bytes(h264_mp4.read_bytes())
    with VideoSource(Path("concat:x.mp4")) as video:
        assert len(video) == 12
    Path("data:,x").write_text("not a video")
    with pytest.raises(FrameSourceError, match=r"^data:,x: not a readable video"):
        VideoSource(Path("data:,x"))


def test_common_containers_still_open(tmp_path, make_video, square_frames):
    for name, codec, pix_fmt in (
        ("a.mp4", "libx264", "yuv420p"),
        ("a.mov", "libx264", "yuv420p"),
        ("a.mkv", "ffv1", "bgr0"),
        ("a.webm", "libvpx-vp9", "yuv420p"),
        ("a.avi", "mpeg4", "yuv420p"),
        ("a.ts", "mpeg2video", "yuv420p"),
        ("a.nut", "ffv1", "bgr0"),
    ):
        with VideoSource(make_video(tmp_path / name, square_frames, codec=codec, pix_fmt=pix_fmt)):
            pass
    assert "hls" not in LOCAL_FORMATS and "concat" not in LOCAL_FORMATS


def test_a_playlist_given_as_a_stream_url_still_opens(tmp_path):
    """A stream URL is the user's explicit choice: HLS over HTTP reads as before."""
    write_secret(tmp_path / "seg.ts", "mpegts")
    (tmp_path / "live.m3u8").write_text(hls("seg.ts"))
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = StreamSource(f"http://127.0.0.1:{server.server_address[1]}/live.m3u8")
        try:
            frames = [image for _, image in source.frames()]
        finally:
            source.close()
    finally:
        server.shutdown()
        server.server_close()
    assert len(frames) == SECRET_FRAMES


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
