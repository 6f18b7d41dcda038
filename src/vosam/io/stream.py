"""Live and streamed videos as frame sources: capture devices, network streams, stdin.

:class:`StreamSource` reads anything PyAV (FFmpeg) opens as it arrives: a capture device
(``/dev/video0``, read with v4l2), an ``rtsp://``, ``http(s)://``, ``udp://`` or ``tcp://``
URL, or ``-`` for a stream on standard input (``ffmpeg ... -f mpegts - | vosam segment -``).
Its length is unknown (:attr:`~vosam.io.frames.FrameSource.length_known` is False):
:attr:`names` grow as frames are decoded.

A decoding thread reads ahead into a bounded queue, so the frames waiting there are the
latency of whoever consumes them (:attr:`StreamSource.behind`); memory holds at most
``queue_frames`` frames plus the frames asked for by index before iterating.

A stream cannot go back: :meth:`StreamSource.read` gives the frames not yet iterated past
(the first frames, for annotations and prompts, which must therefore be given on the first
frames as they arrive), and :meth:`StreamSource.frames` runs once, from the start.

Opening and reading happen in the decoding thread; the caller only waits on the queue, a
tenth of a second at a time, so Ctrl-C (KeyboardInterrupt) reaches it at once even while
FFmpeg waits on a silent server. A stream that sends no frame for ``timeout`` seconds is
refused when opening (:class:`~vosam.errors.FrameSourceError`) and ends when it happens
later (:attr:`StreamSource.stalled` says so); FFmpeg's own wait is bounded a little later,
so the decoding thread ends too.
"""

from __future__ import annotations

import logging
import math
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vosam.errors import FrameSourceError
from vosam.io.frames import MAX_FRAME_PIXELS, FrameSource

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
MAX_READ_AHEAD = 100
"""Frames a stream source keeps to give frames by index before iterating (annotations and
prompts on the first frames)."""

DEFAULT_TIMEOUT = 30.0
"""Seconds without a frame after which a stream is given up (opening) or ends (later)."""

_END = object()
_POLL = 0.1  # seconds a wait on the queue lasts before it looks again


def is_stream(source: str | Path) -> bool:
    """True for what :class:`StreamSource` opens: ``-``, a stream URL or a capture device
    (``/dev/video*``)."""
    text = str(source)
    return text == "-" or text.lower().startswith(STREAM_SCHEMES) or text.startswith("/dev/video")


class StreamSource(FrameSource):
    """Frames of a live or streamed video, decoded as they arrive. Names are ``00000``,
    ``00001``, ... in arrival order.

    Args:
        source: ``-`` (standard input), a URL or a capture device path.
        input_format: FFmpeg's demuxer name when it cannot be guessed (``mpegts``,
            ``v4l2``...); ``v4l2`` for ``/dev/video*`` by default.
        options: FFmpeg options for opening (``{"rtsp_transport": "tcp"}``).
        queue_frames: decoded frames held at most, waiting to be consumed.
        timeout: seconds without a frame after which the stream is refused (before its
            first frame) or ends (later, with :attr:`stalled` set); None waits for ever.

    Raises:
        FrameSourceError: the stream cannot be opened, has no video, sends no frame within
            ``timeout`` or ends before its first frame.
        ValueError: ``timeout`` is not a positive number.
    """

    length_known = False

    def __init__(
        self,
        source: str | Path,
        *,
        input_format: str | None = None,
        options: dict[str, str] | None = None,
        queue_frames: int = 32,
        tolerate_corrupt: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        text = str(source)
        if input_format is None and text.startswith("/dev/video"):
            input_format = "v4l2"
        label = "<stdin>" if text == "-" else text  # named as given in messages (a URL)
        self._label = text
        self._name = label
        self._timeout = timeout
        self.stalled: str | None = None
        """Why the stream ended early: no frame came for ``timeout`` seconds (else None)."""
        self._queue: queue.Queue = queue.Queue(maxsize=max(queue_frames, 1))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._head: dict[int, np.ndarray] = {}
        self._received = 0  # frames taken from the decoding thread
        self._position = 0  # next frame :meth:`frames` yields
        self._iterating = False
        self._ended = False
        self._interrupted = threading.Event()
        self._thread = threading.Thread(
            target=self._pump,
            args=(text, label, input_format, options),
            name="vosam-stream",
            daemon=True,
        )
        self._thread.start()
        try:
            first = self._take()
        except BaseException:  # Ctrl-C while opening included: the thread stops too
            self._stop.set()
            raise
        if first is None:
            self._stop.set()
            if self.stalled is not None:
                raise FrameSourceError(label, f"{self.stalled} after opening it; nothing to read")
            raise FrameSourceError(label, "stream ended before its first frame")
        h, w = first.shape[:2]
        if h * w > MAX_FRAME_PIXELS:
            self._stop.set()
            raise FrameSourceError(label, f"frames are {w}×{h}, more than {MAX_FRAME_PIXELS:,}")
        self._count_names = 1
        super().__init__(Path(label), ("00000",), (h, w), tolerate_corrupt=tolerate_corrupt)
        self._head[0] = first
        self._received = 1

    # -- decoding -----------------------------------------------------------------------

    def _open(self, text: str, label: str, input_format: str | None, options: dict | None):
        """Open the container (in the decoding thread) and return its frame iterator."""
        import av

        target = _stdin_reader() if text == "-" else text
        # FFmpeg gives up a little after the caller does, so the caller's message wins
        wait = None if self._timeout is None else self._timeout + 2.0
        try:
            container = av.open(
                target,
                mode="r",
                format=input_format,
                options=options,
                timeout=None if wait is None else (wait, wait),
            )
        except (av.FFmpegError, OSError, ValueError) as e:
            raise FrameSourceError(label, f"cannot open the stream ({e})") from e
        if not container.streams.video:
            container.close()
            raise FrameSourceError(label, "stream has no video")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return container, container.decode(stream)

    def _decode_one(self, decoded: Iterator) -> np.ndarray | None:
        import av

        try:
            frame = next(decoded)
        except StopIteration:
            return None
        except av.FFmpegError as e:
            raise FrameSourceError(self._name, f"stream broke off ({e})") from e
        return frame.to_ndarray(format="rgb24")

    def _pump(self, text: str, label: str, input_format: str | None, options: dict | None) -> None:
        """The decoding thread: opens the stream, then frames into the queue until the
        stream ends or stops. Frames of another size than the first are resized to it."""
        container = None
        try:
            container, decoded = self._open(text, label, input_format, options)
            size = None
            while not self._stop.is_set():
                image = self._decode_one(decoded)
                if image is None:
                    break
                if size is None:
                    size = image.shape[:2]
                elif image.shape[:2] != size:
                    image = _resize(image, size)
                while not self._stop.is_set():
                    try:
                        self._queue.put(image, timeout=_POLL)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:  # handed to the consumer
            self._error = e
        finally:
            if container is not None:
                container.close()
            self._ended = True
            self._queue.put(_END)

    def _take(self) -> np.ndarray | None:
        """The next decoded frame, waiting for it in short, interruptible waits; None at
        the end of the stream, after :meth:`interrupt`, or when no frame came for the
        timeout (:attr:`stalled` is then set and the decoding thread told to stop)."""
        started = time.monotonic()
        while True:
            if self._interrupted.is_set():
                return None
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if self._timeout is not None and time.monotonic() - started > self._timeout:
                    self.stalled = f"no frame for {self._timeout:g} s"
                    self._stop.set()
                    return None
                continue
            if item is _END:
                self._queue.put(_END)  # later calls see the end too
                if self._error is not None:
                    raise self._error
                return None
            return item

    def _receive(self) -> np.ndarray | None:
        """The next decoded frame, waiting for it; None at the end of the stream."""
        item = self._take()
        if item is None:
            return None
        index = self._received
        self._received += 1
        self._grow(index + 1)
        return item

    def _grow(self, count: int) -> None:
        if count > len(self._names):
            digits = max(5, len(str(count - 1)))
            self._names = tuple(f"{i:0{digits}d}" for i in range(count))

    def interrupt(self) -> None:
        """End the stream as seen by its reader: waiting for a frame returns at once, as at
        the end of the stream (a stream that stalls can still be stopped). Safe to call
        from a signal handler."""
        self._interrupted.set()

    @property
    def behind(self) -> int:
        """Frames decoded and waiting to be consumed (the consumer's latency, in frames)."""
        waiting = self._queue.qsize() - (1 if self._ended else 0)
        return max(waiting, 0) + sum(1 for i in self._head if i >= self._position)

    # -- FrameSource ----------------------------------------------------------------------

    def read(self, index: int) -> np.ndarray:
        """Frame ``index``, reading the stream ahead to it when needed (at most
        :data:`MAX_READ_AHEAD` frames, and only frames not yet iterated past)."""
        if index < 0:
            raise IndexError(f"{self._label}: a stream has no end to count from")
        if index in self._head:
            return self._head[index]
        if index < self._received:
            raise FrameSourceError(
                self._name, f"frame {index} has gone by; a stream cannot go back to it"
            )
        if index >= MAX_READ_AHEAD:
            raise FrameSourceError(
                self._name,
                f"frame {index} is too far ahead; annotations and prompts of a stream go on "
                f"its first {MAX_READ_AHEAD} frames",
            )
        while self._received <= index:
            image = self._receive()
            if image is None and self.stalled is not None:
                raise FrameSourceError(
                    self._name, f"{self.stalled} while waiting for frame {index}"
                )
            if image is None:
                raise FrameSourceError(
                    self._name,
                    f"frame {index} is not in the stream: it ended after {self._received} frames",
                )
            self._head[self._received - 1] = image
        return self._head[index]

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Frames from ``start`` (frames before it are read and dropped) as they arrive,
        until the stream ends, ``stop`` or :meth:`close`. Runs once."""
        if self._iterating:
            raise FrameSourceError(self._name, "a stream is read once; open it again")
        self._iterating = True
        index = 0
        while stop is None or index < stop:
            image = self._head.pop(index, None)
            if image is None:
                if index < self._received:  # taken by read() and dropped: cannot happen
                    raise FrameSourceError(self._name, f"frame {index} is gone")
                image = self._receive()
                if image is None:
                    return
            self._position = index + 1
            if index >= start:
                yield index, image
            index += 1

    def source_file(self, index: int) -> str:
        return self._label

    def close(self) -> None:
        """Stop decoding. The decoding thread ends at its next frame, or when FFmpeg's
        wait for data times out (a daemon thread, never waited for)."""
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def __repr__(self) -> str:
        h, w = self._size
        return f"StreamSource({self._label!r}, {w}×{h}, {self._received} frames so far)"


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame of another size (a stream changed resolution) brought to ``size (H, W)``."""
    from PIL import Image

    log.warning("stream frame of %s×%s resized to %s×%s", *image.shape[1::-1], *size[::-1])
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))


def _stdin_reader():  # -> a binary file object
    """Standard input as an unbuffered binary file of its own: a read blocked in the
    decoding thread then holds no lock of ``sys.stdin``'s buffered reader, which the
    interpreter takes at shutdown (a stop while a read waits would abort the process). A
    stand-in without a file descriptor gives its ``buffer``."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.stdin.buffer
    return open(fd, "rb", buffering=0, closefd=False)
