"""Opening a media file so that FFmpeg reads that file and nothing else.

FFmpeg opens more than video files: a playlist (HLS ``.m3u8``), a concat list
(``.ffconcat``), an SDP description or an image-sequence pattern names other files or URLs,
and FFmpeg follows them. A file that a user names, or uploads to the app, must not lead
vosam to read anything else, so a video file is opened with two FFmpeg options:

- ``format_whitelist``: FFmpeg probes the file's format and refuses it, before reading
  anything the file refers to, unless it is one of :data:`LOCAL_FORMATS`, formats whose
  frames are in the file itself;
- ``protocol_whitelist=file``: whatever the format, only local files are opened (no
  ``http:``, ``data:``, ``concat:``, ``subfile:``... URLs).

Live streams given as URLs are opened by :mod:`vosam.io.stream` without these limits: there
the user names the URL on purpose.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import av

from vosam.errors import FrameSourceError

LOCAL_FORMATS = (
    "mov",  # also mp4, m4a, 3gp, 3g2, mj2: one demuxer
    "matroska",  # also webm
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "mpegvideo",
    "m4v",
    "ogg",
    "asf",
    "nut",
    "yuv4mpegpipe",
    "h264",
    "hevc",
    "ivf",
    "obu",
    "dv",
    "gif",
    "apng",
    "png_pipe",  # one image, read as one frame
    "jpeg_pipe",
)
"""FFmpeg demuxers a video file may be read with: each reads the frames stored in the file
itself and opens no other file."""

_OPTIONS = {"format_whitelist": ",".join(LOCAL_FORMATS), "protocol_whitelist": "file"}

_KINDS = {
    "hls": "an HLS playlist",
    "concat": "a concat list",
    "sdp": "an SDP session description",
    "rtsp": "an RTSP description",
    "image2": "an image file name pattern",
}

_probe_lock = threading.Lock()


def open_local(path: Path) -> av.container.InputContainer:
    """Open the media file ``path`` for reading, refusing formats that refer to other files
    or URLs (see the module docstring).

    Raises:
        FrameSourceError: the file is in a format outside :data:`LOCAL_FORMATS` (naming the
            format), or FFmpeg cannot read it.
    """
    # an absolute path, so that a name like "concat:a|b" or "data:..." is never a protocol
    target = str(Path(path).absolute())
    try:
        return av.open(target, mode="r", options=_OPTIONS)
    except av.ArgumentError as e:
        name = _refused_format(target)
        if name is None:
            raise FrameSourceError(path, f"not a readable video ({e})") from e
        if name in _KINDS:
            problem = (
                f"is {_KINDS[name]} (FFmpeg format {name}); vosam opens only video files that "
                "hold their own frames, never the files or URLs a file names"
            )
        else:
            problem = (
                f"is in FFmpeg format {name}, which vosam does not open as a video (it opens "
                "mp4, mov, mkv, webm, avi and other formats that hold their own frames)"
            )
        raise FrameSourceError(path, problem) from None
    except (av.FFmpegError, OSError, ValueError) as e:
        raise FrameSourceError(path, f"not a readable video ({e})") from e


def _refused_format(target: str) -> str | None:
    """The format FFmpeg probed for ``target`` if it refused it as not on the list; None
    when the failure was something else. FFmpeg says so only in its log, which PyAV leaves
    off: it is captured for this one open, which stops after the probe like the first."""
    with _probe_lock:
        level, repeats = av.logging.get_level(), av.logging.get_skip_repeated()
        av.logging.set_level(av.logging.ERROR)
        av.logging.set_skip_repeated(False)  # the same refusal as last time is still wanted
        try:
            with av.logging.Capture(local=True) as logs, contextlib.suppress(av.FFmpegError):
                av.open(target, mode="r", options=_OPTIONS).close()
        finally:
            av.logging.set_level(level)
            av.logging.set_skip_repeated(repeats)
    for _level, name, message in logs:
        if "not on whitelist" in message and name:
            return name.split(",")[0]
    return None
