"""Overlays for looking at results: masks blended over frames, as PNGs or a video.

Each object keeps the DAVIS palette colour of its id, so an object has the same colour in
every frame and in every output. Void (255) pixels are left as they are.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import numpy as np
from PIL import Image
from scipy import ndimage

from vosam.errors import OutputError
from vosam.io.atomic import atomic_save_png, commit, discard, temp_sibling
from vosam.io.masks import DAVIS_COLORS, VOID_ID

log = logging.getLogger(__name__)


def overlay(
    image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.5, contour: int = 1
) -> np.ndarray:
    """Blend each object's palette colour over ``image`` and outline it in that colour.

    Args:
        image: ``uint8 (H, W, 3)`` RGB.
        mask: ``uint8 (H, W)`` ids; 0 (background) and 255 (void) are not drawn.
        alpha: opacity of the fill, in [0, 1].
        contour: outline width in pixels, drawn inside the object along every edge where
            the id changes (not along the frame border); 0 for none.

    Returns:
        ``uint8 (H, W, 3)``: fill pixels are ``round((1 - alpha) * image + alpha * colour)``,
        outline pixels the pure colour.
    """
    if image.ndim != 3 or image.shape[2] != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"image {image.shape} and mask {mask.shape} must be (H, W, 3), (H, W)")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    drawn = (mask != 0) & (mask != VOID_ID)
    colours = DAVIS_COLORS[mask]
    blend = (1.0 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    out = image.copy()
    out[drawn] = np.rint(blend[drawn]).astype(np.uint8)
    if contour > 0:
        window = 2 * contour + 1
        high = ndimage.maximum_filter(mask, size=window, mode="nearest")
        low = ndimage.minimum_filter(mask, size=window, mode="nearest")
        edge = drawn & (high != low)
        out[edge] = colours[edge]
    return out


def save_overlay_png(
    path: str | Path, image: np.ndarray, mask: np.ndarray, *, alpha: float = 0.5
) -> None:
    """Write :func:`overlay` of ``image (H, W, 3)`` and ``mask (H, W)`` as a PNG, atomically."""
    atomic_save_png(path, Image.fromarray(overlay(image, mask, alpha=alpha)))


def _pick_codec() -> str:
    for name in ("libx264", "mpeg4"):
        try:
            av.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        return name
    raise OutputError(None, "this PyAV build has neither the libx264 nor the mpeg4 encoder")


class OverlayVideoWriter:
    """Write frames (with optional mask overlays) to a video file, atomically.

    H.264 (``libx264``, yuv420p) when available, else MPEG-4 Part 2. The container follows
    the file suffix (``.mp4``, ``.mkv``, ``.mov``, ``.avi``). Odd widths or heights, which
    yuv420p cannot hold, are padded by one black row / column at the bottom / right.

    The video is written to a hidden temporary file beside ``path`` and renamed on
    :meth:`close`; used as a context manager, an exception inside the block removes it, so
    ``path`` is never left half-written. Closing after writing no frame raises
    :class:`~vosam.errors.OutputError` and writes nothing.

    Args:
        path: the video file to write.
        fps: frames per second (may be fractional: 29.97).
        size: ``(H, W)`` of the frames that will be written.
        alpha: fill opacity of the overlays.
    """

    def __init__(
        self, path: str | Path, fps: float, size: tuple[int, int], *, alpha: float = 0.5
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self.alpha = alpha
        self.codec = _pick_codec()
        self.frames_written = 0
        h, w = self.size
        self._padded = (h + h % 2, w + w % 2)
        self._tmp = temp_sibling(self.path)
        try:
            self._container = av.open(str(self._tmp), mode="w")
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream(self.codec, rate=rate)
            self._stream.height, self._stream.width = self._padded
            self._stream.pix_fmt = "yuv420p"
            if self.codec == "libx264":
                self._stream.options = {"crf": "18"}
            else:
                self._stream.bit_rate = max(1_000_000, int(4 * h * w * float(rate)))
        except (av.FFmpegError, ValueError) as e:
            discard(self._tmp)
            raise OutputError(self.path, f"cannot write a video here ({e})") from e
        except BaseException:
            discard(self._tmp)
            raise
        self._open = True
        log.debug("writing %s with %s at %s fps", self.path, self.codec, rate)

    def write(self, image: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Append a frame: ``image`` ``uint8 (H, W, 3)`` RGB, overlaid with ``mask``
        ``uint8 (H, W)`` when given."""
        if not self._open:
            raise ValueError(f"{self.path}: writer is closed")
        if image.shape != (*self.size, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 frame of shape {(*self.size, 3)}, got {image.dtype} "
                f"{image.shape}"
            )
        if mask is not None:
            image = overlay(image, mask, alpha=self.alpha)
        if self._padded != self.size:
            ph, pw = self._padded
            padded = np.zeros((ph, pw, 3), dtype=np.uint8)
            padded[: self.size[0], : self.size[1]] = image
            image = padded
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the video and move it to ``path``."""
        if not self._open:
            return
        if self.frames_written == 0:
            self.abort()
            raise OutputError(self.path, "no frames were written; no video was made")
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except BaseException:
            self.abort()
            raise
        self._open = False
        commit(self._tmp, self.path)
        log.debug("wrote %s (%d frames)", self.path, self.frames_written)

    def abort(self) -> None:
        """Stop writing and remove the temporary file; ``path`` is not touched."""
        if self._open:
            self._open = False
            try:
                self._container.close()
            except av.FFmpegError:
                log.debug("error while closing aborted video %s", self._tmp)
        discard(self._tmp)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
