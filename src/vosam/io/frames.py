"""Streamed frame sources: a folder of JPEG/PNG frames or a video file.

A :class:`FrameSource` never holds the whole video in memory. Iterating decodes each frame
once, in order; :meth:`FrameSource.read` gives random access (for videos: seek to the nearest
keyframe before the frame and decode forward).

Every frame has a stable name used for outputs: the file stem for a folder
(``frame_000014``), the zero-padded index for a video (``00014``).

Orientation metadata (JPEG EXIF orientation, a video's rotation matrix) is not applied:
frames come out as stored, so masks drawn on them line up with the stored pixels.

Damaged data is an error, not a picture: a JPEG the decoder can read only with a warning
("Corrupt JPEG data: ... extraneous bytes", "premature end of data segment"), or a video
frame the decoder reports as damaged, raises :class:`~vosam.errors.CorruptFrameError`
naming the frame. With ``tolerate_corrupt`` iterating (:meth:`FrameSource.frames`) skips
such frames instead, logs a warning and lists them in :attr:`FrameSource.skipped`; reading
one by index still raises. Frames larger than :data:`MAX_FRAME_PIXELS` are refused from
their header, before any decoding.
"""

from __future__ import annotations

import csv
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from vosam.errors import CorruptFrameError, FrameSourceError
from vosam.io.atomic import atomic_write
from vosam.io.masks import MAX_MASK_PIXELS
from vosam.names import natural_sorted

log = logging.getLogger(__name__)

FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
FRAME_MAP_NAME = "frames.csv"

MAX_FRAME_PIXELS = MAX_MASK_PIXELS
"""Frames larger than this many pixels (8192 × 8192) are refused before decoding."""


class FrameSource(ABC):
    """A video as a sequence of ``uint8 (H, W, 3)`` RGB frames with stable names.

    Use as a context manager (or call :meth:`close`) to release open files.

    Attributes:
        length_known: the video's length is known before reading it (False for a live
            stream, whose :attr:`names` grow as frames arrive).
    """

    length_known: ClassVar[bool] = True

    def __init__(
        self,
        path: Path,
        names: tuple[str, ...],
        size: tuple[int, int],
        *,
        tolerate_corrupt: bool = False,
    ) -> None:
        self._path = path
        self._names = names
        self._size = size
        self.tolerate_corrupt = tolerate_corrupt
        self._skipped: dict[int, str] = {}

    @property
    def path(self) -> Path:
        """The folder or video file the frames come from."""
        return self._path

    @property
    def names(self) -> tuple[str, ...]:
        """One stable name per frame, in frame order."""
        return self._names

    @property
    def size(self) -> tuple[int, int]:
        """Frame size ``(H, W)``."""
        return self._size

    @property
    def skipped(self) -> dict[int, str]:
        """Damaged frames skipped while iterating with ``tolerate_corrupt``: index → the
        decoder's complaint."""
        return dict(self._skipped)

    def _skip_or_raise(self, error: CorruptFrameError) -> None:
        """With ``tolerate_corrupt``, record a damaged frame and go on; else raise."""
        if not self.tolerate_corrupt:
            raise error
        self._skipped[error.index] = error.problem
        log.warning("skipping damaged frame %s: %s", self._names[error.index], error)

    def __len__(self) -> int:
        return len(self._names)

    def _check_index(self, index: int) -> int:
        n = len(self._names)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range: {self._path} has {n} frames")
        return index % n

    def _span(self, start: int, stop: int | None) -> tuple[int, int]:
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        return start, len(self) if stop is None else min(stop, len(self))

    @abstractmethod
    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``uint8 (H, W, 3)`` RGB. Negative indices count from the end."""

    @abstractmethod
    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, uint8 (H, W, 3))`` for frames ``start .. stop - 1``, in order,
        decoding each once. Damaged frames raise, or are skipped with
        ``tolerate_corrupt``."""

    @abstractmethod
    def source_file(self, index: int) -> str:
        """Name of the file that holds frame ``index`` (the frame file, or the video)."""

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return self.frames()

    def close(self) -> None:  # noqa: B027 (optional hook; folders hold nothing open)
        """Release open files. The source may be reopened by reading from it again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        h, w = self._size
        return f"{type(self).__name__}({str(self._path)!r}, {len(self)} frames, {w}×{h})"


def _to_rgb(image: Image.Image) -> np.ndarray:
    """PIL image of any mode → ``uint8 (H, W, 3)`` RGB (alpha dropped)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _decode_jpeg(file: Path, grey: bool) -> np.ndarray:
    """Decode a baseline or progressive JPEG with libjpeg-turbo (simplejpeg, strict) →
    ``uint8 (H, W, 3)`` RGB: the same pixels as Pillow and OpenCV, faster, and every
    decoder warning is an error (Pillow and OpenCV decode such files with a warning on
    stderr at most)."""
    data = file.read_bytes()
    try:
        if grey:
            return np.repeat(simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True), 3, 2)
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as e:
        raise _Damaged(str(e).strip()) from e


class _Damaged(Exception):
    """The decoder's complaint about a frame file."""


class FolderSource(FrameSource):
    """Frames stored as ``.jpg`` / ``.jpeg`` / ``.png`` files (any case) in one folder.

    Files are ordered naturally (``frame2`` before ``frame10``); hidden files (starting with
    ``.``) are ignored. Opening reads every file's header to check that all frames are images
    of the same size (and at most :data:`MAX_FRAME_PIXELS`); pixels are decoded only when a
    frame is read. Grayscale, palette and RGBA frames are converted to RGB.

    Raises:
        FrameSourceError: the folder is missing, holds no frames, two files share a stem, a
            file is not a readable image, a frame is too large, or a frame's size differs
            from the first frame's.
        CorruptFrameError: (when a frame is read) its data is damaged.
    """

    def __init__(self, path: str | Path, *, tolerate_corrupt: bool = False) -> None:
        folder = Path(path)
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "frame folder does not exist"
            raise FrameSourceError(folder, problem)
        files = [
            p.name
            for p in folder.iterdir()
            if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".") and p.is_file()
        ]
        if not files:
            raise FrameSourceError(
                folder, "no frames: expected .jpg, .jpeg or .png files in this folder"
            )
        files = natural_sorted(files)
        stems: dict[str, str] = {}
        for name in files:
            stem = Path(name).stem
            if stem in stems:
                raise FrameSourceError(
                    folder / name, f"two frames share the name '{stem}' (also {stems[stem]})"
                )
            stems[stem] = name
        self._files = tuple(folder / name for name in files)
        size = self._header_size(self._files[0])
        for file in self._files[1:]:
            other = self._header_size(file)
            if other != size:
                raise FrameSourceError(file, _size_problem(other, size, self._files[0].name))
        super().__init__(folder, tuple(stems), size, tolerate_corrupt=tolerate_corrupt)
        log.debug("opened %r", self)

    @staticmethod
    def _header_size(file: Path) -> tuple[int, int]:
        try:
            with Image.open(file) as image:
                w, h = image.size
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            raise FrameSourceError(file, f"not a readable image ({e})") from e
        except Image.DecompressionBombError as e:
            raise FrameSourceError(
                file, "frame is larger than Pillow's decompression-bomb limit; not decoded"
            ) from e
        if w * h > MAX_FRAME_PIXELS:
            raise FrameSourceError(
                file, f"frame is {w}×{h}, more than {MAX_FRAME_PIXELS:,} pixels; not decoded"
            )
        return h, w

    def read(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        file = self._files[index]
        try:
            with Image.open(file) as image:
                if image.format == "JPEG" and image.mode in ("RGB", "L"):
                    rgb = _decode_jpeg(file, grey=image.mode == "L")
                else:
                    rgb = _to_rgb(image)
        except _Damaged as e:
            raise CorruptFrameError(
                file, f"cannot decode image (damaged JPEG data: {e})", index=index
            ) from None
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            raise CorruptFrameError(file, f"cannot decode image ({e})", index=index) from e
        if rgb.shape[:2] != self.size:
            raise FrameSourceError(file, _size_problem(rgb.shape[:2], self.size, "the first"))
        return rgb

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        start, stop = self._span(start, stop)
        for index in range(start, stop):
            try:
                image = self.read(index)
            except CorruptFrameError as e:
                self._skip_or_raise(e)
                continue
            yield index, image

    def source_file(self, index: int) -> str:
        return self._files[self._check_index(index)].name


def _size_problem(got: tuple[int, ...], expected: tuple[int, int], first: str) -> str:
    return (
        f"frame is {got[1]}×{got[0]} but {first} frame is {expected[1]}×{expected[0]}; "
        "all frames of a video must have the same size"
    )


def open_source(path: str | Path, *, tolerate_corrupt: bool = False) -> FrameSource:
    """Open a frame folder (:class:`FolderSource`), a video file (:class:`VideoSource`) or,
    given as text, a live stream (``-``, a URL, ``/dev/video*``:
    :class:`~vosam.io.stream.StreamSource`).

    ``tolerate_corrupt``: skip damaged frames while iterating (see the module docstring).

    Raises:
        FrameSourceError: ``path`` does not exist, or the source cannot be read.
    """
    if isinstance(path, str):
        from vosam.io.stream import StreamSource, is_stream

        if is_stream(path):
            return StreamSource(path, tolerate_corrupt=tolerate_corrupt)
    path = Path(path)
    if path.is_dir():
        return FolderSource(path, tolerate_corrupt=tolerate_corrupt)
    if path.is_file():
        from vosam.io.video import VideoSource

        return VideoSource(path, tolerate_corrupt=tolerate_corrupt)
    raise FrameSourceError(path, "no such video file or frame folder")


def write_frame_map(out_dir: str | Path, source: FrameSource, *, count: int | None = None) -> Path:
    """Write ``out_dir/frames.csv`` mapping each frame index to its name and source file.

    Columns: ``index,name,source_file`` (UTF-8; a name that is not valid UTF-8 is written
    as the bytes the file system holds), one row per frame (the first ``count`` frames
    when given: a stream stopped early). The folder is created if needed; the file is
    written atomically. Returns the path written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / FRAME_MAP_NAME
    # frame names from a file system may hold bytes that are not UTF-8: written as they are
    with atomic_write(target, "w", newline="", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(("index", "name", "source_file"))
        names = source.names if count is None else source.names[:count]
        for index, name in enumerate(names):
            writer.writerow((index, name, source.source_file(index)))
    log.debug("wrote %s (%d frames)", target, len(source))
    return target
