"""Video files as frame sources, decoded with PyAV (mp4, mov, avi, mkv, webm, ...).

The file is opened so that FFmpeg reads nothing else (:mod:`vosam.io.containers`): a
playlist or list of other files (HLS, concat, SDP, ...) is refused, naming its format.

Opening a video demuxes it once, without decoding, to count its frames and note each
frame's timestamp and the keyframes (container headers are unreliable: Matroska reports no
frame count at all). Iteration then decodes each frame once, in order. :meth:`read` seeks
to the nearest keyframe before the wanted frame and decodes forward; consecutive ``read``
calls continue from where the last one stopped instead of seeking again.

Damage is reported, not concealed: a frame the decoder flags as corrupt (FFmpeg conceals
broken slices and carries on) raises :class:`~vosam.errors.CorruptFrameError` naming it,
and so does a container whose header announces more frames than the file holds (a
truncated file); with ``tolerate_corrupt`` iteration skips damaged frames with a warning,
and a short file is read as far as it goes (a frame that cannot be decoded at all still
stops: the frames after it could not be numbered reliably).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vosam.errors import CorruptFrameError, FrameSourceError
from vosam.io.containers import open_local
from vosam.io.frames import MAX_FRAME_PIXELS, FrameSource

log = logging.getLogger(__name__)


@dataclass
class _Cursor:
    """An open decoder positioned before frame ``next_index``."""

    container: av.container.InputContainer
    frames: Iterator[av.VideoFrame]
    next_index: int


class VideoSource(FrameSource):
    """Frames of a video file, streamed. Names are ``00000``, ``00001``, ... (at least five
    digits).

    Raises:
        FrameSourceError: the file is missing, not a video, in a format outside
            :data:`~vosam.io.containers.LOCAL_FORMATS` (a playlist...), has no video stream or no
            frames, frames larger than :data:`~vosam.io.frames.MAX_FRAME_PIXELS`, or fewer
            frames than its header announces (unless ``tolerate_corrupt``).
        CorruptFrameError: (while decoding) the decoder reports a frame as damaged.
    """

    def __init__(self, path: str | Path, *, tolerate_corrupt: bool = False) -> None:
        path = Path(path)
        if not path.is_file():
            raise FrameSourceError(path, "video file does not exist")
        self.tolerate_corrupt = tolerate_corrupt
        pts, keyframes, size = self._index(path)
        digits = max(5, len(str(len(pts) - 1)))
        names = tuple(f"{i:0{digits}d}" for i in range(len(pts)))
        super().__init__(path, names, size, tolerate_corrupt=tolerate_corrupt)
        self._pts = pts
        self._index_of_pts = {t: i for i, t in enumerate(pts)}
        # frame indices of keyframes, increasing
        self._keyframes = sorted(self._index_of_pts[t] for t in keyframes)
        self._cursor: _Cursor | None = None
        log.debug("opened %r (%d keyframes)", self, len(self._keyframes))

    # -- opening ------------------------------------------------------------------------

    def _open(self, path: Path | None = None) -> tuple[av.container.InputContainer, av.VideoStream]:
        path = self.path if path is None else path
        container = open_local(path)
        if not container.streams.video:
            container.close()
            raise FrameSourceError(path, "file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container, stream

    def _index(self, path: Path) -> tuple[list[int], list[int], tuple[int, int]]:
        """Demux (no decoding): presentation timestamps in display order, keyframe
        timestamps, and the size ``(H, W)``."""
        container, stream = self._open(path)
        try:
            stamps: list[int | None] = []
            keyframes: list[int] = []
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.is_discard:
                        continue
                    t = packet.pts if packet.pts is not None else packet.dts
                    stamps.append(t)
                    if packet.is_keyframe and t is not None:
                        keyframes.append(t)
            except av.FFmpegError as e:
                raise FrameSourceError(path, f"damaged video ({e})") from e
            if not stamps:
                raise FrameSourceError(path, "video has no frames")
            if None in stamps or len(set(stamps)) != len(stamps):
                # frames cannot be told apart by timestamp: number them by order and never
                # seek (every random read decodes from the start)
                timestamps = list(range(len(stamps)))
                keyframes = [0]
            else:
                timestamps = sorted(t for t in stamps if t is not None)
            if not keyframes or keyframes[0] != timestamps[0]:
                keyframes.insert(0, timestamps[0])
            size = (stream.codec_context.height, stream.codec_context.width)
            announced = stream.frames
        finally:
            container.close()
        if 0 in size:
            raise FrameSourceError(path, "video stream has no frame size")
        if size[0] * size[1] > MAX_FRAME_PIXELS:
            raise FrameSourceError(
                path,
                f"frames are {size[1]}×{size[0]}, more than {MAX_FRAME_PIXELS:,} pixels; "
                "not decoded",
            )
        if announced and announced > len(timestamps):
            problem = f"header announces {announced} frames but the file holds {len(timestamps)}"
            if not self.tolerate_corrupt:
                raise FrameSourceError(path, f"{problem} (truncated or damaged file)")
            log.warning("%s: %s; reading those", path, problem)
        elif announced and announced != len(timestamps):
            log.debug(
                "%s: header says %d frames, demuxing found %d", path, announced, len(timestamps)
            )
        return timestamps, keyframes, size

    # -- decoding -----------------------------------------------------------------------

    def _rgb(self, frame: av.VideoFrame, index: int) -> np.ndarray:
        if frame.is_corrupt:
            raise CorruptFrameError(
                self.path,
                f"frame {index} ({self.names[index]}) is damaged: the decoder reported errors "
                "and concealed them",
                index=index,
            )
        h, w = self.size
        if (frame.height, frame.width) == (h, w):
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(format="rgb24", width=w, height=h)

    def _decode_from(self, index: int) -> _Cursor:
        """A cursor whose next frame is ``index``: opens the file, seeks to the keyframe at
        or before ``index`` and skips the frames before it."""
        container, stream = self._open()
        key = self._keyframes[bisect.bisect_right(self._keyframes, index) - 1]
        cursor = _Cursor(container, container.decode(stream), key)
        try:
            if key > 0:
                container.seek(self._pts[key], stream=stream, backward=True, any_frame=False)
                self._skip_after_seek(cursor, index)
            else:
                self._skip(cursor, index)
        except BaseException:
            cursor.container.close()
            raise
        return cursor

    def _next(self, cursor: _Cursor) -> av.VideoFrame:
        try:
            frame = next(cursor.frames)
        except StopIteration:
            raise _Ended(
                self.path,
                f"video ended after {cursor.next_index} of {len(self)} frames (damaged file?)",
                index=cursor.next_index,
            ) from None
        except av.FFmpegError as e:
            index = cursor.next_index
            name = self.names[index] if index < len(self) else "past the end"
            raise CorruptFrameError(
                self.path, f"cannot decode frame {index} ({name}): {e}", index=index
            ) from e
        return frame

    def _skip(self, cursor: _Cursor, index: int) -> None:
        """Decode and drop frames until ``index`` is next (cursor position known)."""
        while cursor.next_index < index:
            self._next(cursor)
            cursor.next_index += 1

    def _skip_after_seek(self, cursor: _Cursor, index: int) -> None:
        """After a seek the position is known only from timestamps: find it, then skip."""
        while True:
            frame = self._next(cursor)
            position = self._index_of_pts.get(frame.pts) if frame.pts is not None else None
            if position is None or position > index:
                log.debug("%s: seek landed on an unknown frame; decoding from the start", self.path)
                cursor.container.close()
                container, stream = self._open()
                cursor.container, cursor.frames = container, container.decode(stream)
                cursor.next_index = 0
                self._skip(cursor, index)
                return
            if position == index:
                cursor.frames = _prepend(frame, cursor.frames)
                cursor.next_index = index
                return
            cursor.next_index = position + 1
            if cursor.next_index == index:
                return

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        start, stop = self._span(start, stop)
        if start >= stop:
            return
        cursor = self._decode_from(start)
        try:
            for index in range(start, stop):
                try:
                    frame = self._next(cursor)
                except _Ended as e:
                    if not self.tolerate_corrupt:
                        raise
                    for missing in range(index, stop):
                        self._skipped[missing] = e.problem
                    log.warning("%s; skipping the last %d frames", e, stop - index)
                    return
                cursor.next_index = index + 1
                try:
                    image = self._rgb(frame, index)
                except CorruptFrameError as e:
                    self._skip_or_raise(e)
                    continue
                yield index, image
        finally:
            cursor.container.close()

    def read(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        cursor = self._cursor
        key = self._keyframes[bisect.bisect_right(self._keyframes, index) - 1]
        if cursor is None or not key <= cursor.next_index <= index:
            self.close()
            cursor = self._cursor = self._decode_from(index)
        else:
            self._skip(cursor, index)
        frame = self._next(cursor)
        cursor.next_index = index + 1
        return self._rgb(frame, index)

    def source_file(self, index: int) -> str:
        self._check_index(index)
        return self.path.name

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.container.close()
            self._cursor = None


class _Ended(CorruptFrameError):
    """The decoder gave fewer frames than the file's packets."""


def _prepend(first: av.VideoFrame, rest: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
    yield first
    yield from rest
