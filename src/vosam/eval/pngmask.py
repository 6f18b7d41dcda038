"""Reading mask PNGs for evaluation, lean enough to import in every worker process.

- palette ('P') PNG: the stored indices are the ids (DAVIS, YouTube-VOS, LVOS); 255 void;
- greyscale ('L', 16-bit) holding only 0 and 255: a binary mask, 255 → object 1 (DAVIS 2016);
- other greyscale: the values are the ids;
- 1-bit: object 1.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vosam.errors import MaskError
from vosam.names import natural_key

__all__ = ["natural_key", "read_label_png"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decode_simple_png(data: bytes) -> tuple[np.ndarray, bool] | None:
    """Decode the common mask PNG quickly: 8-bit palette or greyscale, not interlaced, rows
    filtered with None or Sub. Returns (uint8 (H, W) stored values, is_palette), or None for
    anything else (left to Pillow)."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    pos, header, idat = 8, None, []
    try:
        while pos + 8 <= len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kind = data[pos + 4 : pos + 8]
            body = data[pos + 8 : pos + 8 + length]
            pos += 12 + length
            if kind == b"IHDR":
                header = struct.unpack(">IIBBBBB", body)
            elif kind == b"IDAT":
                idat.append(body)
            elif kind == b"IEND":
                break
        if header is None:
            return None
        width, height, depth, colour, _, _, interlace = header
        if depth != 8 or colour not in (0, 3) or interlace or width * height > 1 << 28:
            return None
        # the decoded size is known: one filter byte per row plus the pixels
        raw = zlib.decompress(b"".join(idat), 15, height * (width + 1))
    except (struct.error, zlib.error):
        return None
    if len(raw) != height * (width + 1):
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width + 1)
    kinds = rows[:, 0]
    pixels = rows[:, 1:]
    if not kinds.any():
        return pixels, colour == 3  # a view of the decoded bytes: no copy
    if np.any(kinds > 1):
        return None  # Up / Average / Paeth rows: Pillow does those
    out = np.array(pixels)
    sub = kinds == 1
    # Sub: each byte adds its left neighbour; a running sum modulo 256 undoes it
    out[sub] = np.cumsum(out[sub], axis=1, dtype=np.uint8)
    return out, colour == 3


def read_label_png(path: str | Path) -> np.ndarray:
    """Read a mask file → uint8 (H, W) object ids, possibly a read-only view: copy it to
    change it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise MaskError(path, "mask file does not exist") from e
    except OSError as e:
        raise MaskError(path, f"cannot read the file ({e})") from e
    fast = _decode_simple_png(data)
    if fast is not None:
        values, palette = fast
        return values if palette else _grey_ids(path, values)
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
            image.load()
            mode = image.mode
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise MaskError(path, f"not a readable image ({e})") from e
    if mode in ("P", "PA"):
        return np.ascontiguousarray(array if array.ndim == 2 else array[..., 0], dtype=np.uint8)
    if mode == "1":
        return array.astype(np.uint8)
    if mode == "LA":
        array = array[..., 0]
    elif not (mode == "L" or mode.startswith("I")):
        raise MaskError(
            path, f"unsupported image mode '{mode}' for a mask; save masks as palette PNGs"
        )
    if array.size and (int(array.min()) < 0 or int(array.max()) > 255):
        raise MaskError(path, f"grey values up to {int(array.max())} do not fit 8-bit ids")
    return _grey_ids(path, np.ascontiguousarray(array, dtype=np.uint8))


def _grey_ids(path: Path, ids: np.ndarray) -> np.ndarray:
    """Greyscale values → ids: a 0/255 mask is object 1, other values are ids."""
    # (v + 1) & 0xFE is 0 exactly for v in {0, 255} (uint8 wraps 255 + 1 to 0)
    if not np.any((ids + np.uint8(1)) & np.uint8(0xFE)):
        return ids >> 7  # binary 0/255 mask: object 1
    return ids
