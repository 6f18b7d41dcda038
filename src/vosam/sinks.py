"""Where propagated frames go: one :class:`MaskSink` per kind of output.

A sink receives every frame of a run in order through :meth:`MaskSink.write`, then
:meth:`MaskSink.close` when the run ends normally or :meth:`MaskSink.abort` when it fails
(nothing half-written is left by a sink that writes one file: its temporary file is
removed). Every file is written atomically.

- :class:`PaletteSink`: a DAVIS-palette PNG per frame, named after the frame;
- :class:`PaletteZipSink`: the same PNGs in one zip;
- :class:`ScoreSink`: the probabilities ``float32 (N + 1, H, W)`` per frame as ``.npy``;
- :class:`OverlaySink`: a video of the frames with their masks overlaid;
- :class:`PreviewSink`: one JPEG replaced by the latest overlay frame (to watch a stream);
- :class:`VisJsonSink`: a YouTube-VIS results JSON of every object of every video, written
  on :meth:`VisJsonSink.close`;
- :class:`LastVisitSink`: passes on only each frame's last visit (a ×3 run plays a frame
  up to three times) and only the frames named, to another sink.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from vosam.io import (
    OverlayVideoWriter,
    atomic_write,
    atomic_write_text,
    overlay,
    palette_image,
    write_mask,
)
from vosam.io.atomic import atomic_path, commit, discard, temp_sibling

if TYPE_CHECKING:
    from vosam.engines.base import StepResult
    from vosam.progress import Progress


class MaskSink(ABC):
    """One output of a run, fed frame by frame."""

    @abstractmethod
    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        """Take frame ``index`` (named ``name``): ``image`` ``uint8 (H, W, 3)`` RGB and
        its :class:`~vosam.engines.base.StepResult`."""

    def close(self) -> None:  # noqa: B027 (optional: sinks of one file per frame hold nothing)
        """Finish the output (the run ended normally)."""

    def abort(self) -> None:  # noqa: B027
        """Drop what is unfinished (the run failed); finished files are the caller's."""


class PaletteSink(MaskSink):
    """``folder/<name>.png``: the frame's mask as a DAVIS-palette PNG."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        write_mask(self.folder / f"{name}.png", result.mask)


class PaletteZipSink(MaskSink):
    """``path``: a zip of ``<name>.png`` DAVIS-palette masks (stored: PNGs are compressed
    already), written to a hidden file beside ``path`` and renamed into place on
    :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tmp = temp_sibling(self.path)
        self._file = open(self._tmp, "wb")  # noqa: SIM115 (closed by close or abort)
        self._zip = zipfile.ZipFile(self._file, "w", zipfile.ZIP_STORED)

    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        self.write_mask(name, result.mask)

    def write_mask(self, name: str, mask: np.ndarray) -> None:
        """Add ``<name>.png`` of ``mask`` ``uint8 (H, W)`` (for masks not from a step)."""
        buffer = io.BytesIO()
        palette_image(mask).save(buffer, format="PNG")
        self._zip.writestr(f"{name}.png", buffer.getvalue())

    def close(self) -> None:
        try:
            self._zip.close()
            self._file.close()
            commit(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        with suppress(Exception):  # the archive is dropped anyway
            self._zip.close()
        self._file.close()
        discard(self._tmp)


class ScoreSink(MaskSink):
    """``folder/<name>.npy``: the frame's probabilities ``float32 (N + 1, H, W)``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        with atomic_write(self.folder / f"{name}.npy") as f:
            np.save(f, result.probs.astype(np.float32, copy=False))


class OverlaySink(MaskSink):
    """A video of the frames with their masks overlaid (see
    :class:`~vosam.io.OverlayVideoWriter`); renamed into place on :meth:`close`."""

    def __init__(self, writer: OverlayVideoWriter) -> None:
        self.writer = writer

    @classmethod
    def to(cls, path: Path, fps: float, size: tuple[int, int]) -> OverlaySink:
        """A sink writing the video ``path`` at ``fps`` for frames of ``size (H, W)``."""
        return cls(OverlayVideoWriter(path, fps, size))

    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        self.writer.write(image, result.mask)

    def write_mask(self, image: np.ndarray, mask: np.ndarray) -> None:
        """Append a frame overlaid with ``mask (H, W)`` (for masks not from a step)."""
        self.writer.write(image, mask)

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()


class PreviewSink(MaskSink):
    """``path`` (a JPEG) always holds the latest overlay frame, replaced atomically, at
    most every ``every`` seconds, so a person or a browser can watch a live run."""

    def __init__(self, path: Path, *, every: float = 0.0, quality: int = 85) -> None:
        self.path = Path(path)
        self.every = every
        self.quality = quality
        self._last = -float("inf")

    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        with atomic_path(self.path) as tmp:
            Image.fromarray(overlay(image, result.mask)).save(
                tmp, format="JPEG", quality=self.quality
            )


class VisJsonSink(MaskSink):
    """``path``: the YouTube-VIS results JSON (what the challenge server and
    :func:`vosam.eval.evaluate_vis` read) of the videos written, in the order they were
    started with :meth:`video`.

    Each object ``k + 1`` of a video is one entry ``{video_id, category_id, score: 1.0,
    segmentations}``, ``categories[k]`` its category and ``segmentations`` one compressed
    RLE per frame (of an empty mask where the object is absent). A frame written again
    replaces its earlier masks. Nothing is written before :meth:`close`, nothing at all
    after :meth:`abort`. Needs ``pycocotools``.
    """

    def __init__(self, path: Path) -> None:
        from vosam.coco import mask_api

        self.path = Path(path)
        self._api = mask_api()
        self._videos: list[tuple[int, tuple[str, ...], tuple[int, ...], dict[str, list]]] = []

    def video(self, video_id: int, names: Sequence[str], categories: Sequence[int]) -> None:
        """Start video ``video_id`` of the frames ``names`` (in order), its object ``k + 1``
        of category ``categories[k]``; the frames written next are this video's."""
        self._videos.append((video_id, tuple(names), tuple(categories), {}))

    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        self.write_mask(name, result.mask)

    def write_mask(self, name: str, mask: np.ndarray) -> None:
        """Take frame ``name``'s ``uint8 (H, W)`` object ids (for masks not from a step).

        Raises:
            ValueError: no video started, or ``name`` is not one of its frames.
        """
        if not self._videos:
            raise ValueError("a frame was written before any video was started")
        video_id, names, categories, frames = self._videos[-1]
        if name not in names:
            raise ValueError(f"video {video_id} has no frame '{name}'")
        frames[name] = [self._rle(mask == k + 1) for k in range(len(categories))]

    def _rle(self, mask: np.ndarray) -> dict:
        rle = self._api.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": rle["size"], "counts": rle["counts"].decode()}

    def close(self) -> None:
        """Write the JSON.

        Raises:
            ValueError: a started video lacks a frame (nothing is written).
        """
        results = []
        for video_id, names, categories, frames in self._videos:
            missing = [n for n in names if n not in frames]
            if missing:
                raise ValueError(f"video {video_id} lacks frame '{missing[0]}'")
            for k, category in enumerate(categories):
                results.append(
                    {
                        "video_id": video_id,
                        "category_id": category,
                        "score": 1.0,
                        "segmentations": [frames[n][k] for n in names],
                    }
                )
        atomic_write_text(self.path, json.dumps(results))
        self._videos = []

    def abort(self) -> None:
        self._videos = []


class LastVisitSink(MaskSink):
    """Gives ``inner`` each frame of ``plays`` (frame indices in playing order) once, on
    its last visit, and only the frames whose name is in ``names`` (all when None).

    :attr:`written` counts the frames passed on.

    Raises:
        ValueError: from :meth:`write`, a frame visited more often than ``plays`` says.
    """

    def __init__(
        self, inner: MaskSink, plays: Iterable[int], *, names: Collection[str] | None = None
    ) -> None:
        self.inner = inner
        self.names = None if names is None else frozenset(names)
        self.written = 0
        self._left = Counter(plays)

    def write(self, index: int, name: str, image: np.ndarray, result: StepResult) -> None:
        if self._left[index] <= 0:
            raise ValueError(f"frame {index} ('{name}') is played more often than its order says")
        self._left[index] -= 1
        if self._left[index] > 0 or (self.names is not None and name not in self.names):
            return
        self.inner.write(index, name, image, result)
        self.written += 1

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


def feed(
    sinks: Sequence[MaskSink],
    frames: Iterable[tuple[int, str, np.ndarray, StepResult]],
    *,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[int, int]:
    """Give every ``(index, name, image, result)`` of ``frames`` to every sink, then close
    them; when anything fails, abort them all and raise.

    ``stop()`` is asked after each frame; True ends the feeding there (the sinks are closed
    as after the last frame). Returns the frames fed and the index of the last one (-1
    when none).
    """
    count, last = 0, -1
    try:
        for index, name, image, result in frames:
            write_all(sinks, index, name, image, result)
            count, last = count + 1, index
            if progress is not None:
                progress.update()
            if stop is not None and stop():
                break
        close_all(sinks)
    except BaseException:
        abort_all(sinks)
        raise
    return count, last


def write_all(
    sinks: Sequence[MaskSink], index: int, name: str, image: np.ndarray, result: StepResult
) -> None:
    """Give one frame to every sink, in order."""
    for sink in sinks:
        sink.write(index, name, image, result)


def close_all(sinks: Sequence[MaskSink]) -> None:
    """Close every sink; when one fails, the ones not closed yet are aborted."""
    for k, sink in enumerate(sinks):
        try:
            sink.close()
        except BaseException:
            abort_all(sinks[k + 1 :])
            raise


def abort_all(sinks: Sequence[MaskSink]) -> None:
    """Abort every sink (errors of one do not stop the others)."""
    for sink in sinks:
        try:
            sink.abort()
        except Exception:  # aborting is best effort
            continue
