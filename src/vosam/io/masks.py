"""Mask files: the DAVIS palette, reading masks in the formats found in the wild, writing
palette PNGs, and matching a folder of annotations to a video's frames.

In memory a mask is ``uint8 (H, W)`` of user object ids: 0 background, 1..254 objects,
255 void (ignored by evaluation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vosam.errors import MaskError, MaskSizeError
from vosam.io.atomic import atomic_write
from vosam.objects import VOID_ID

log = logging.getLogger(__name__)

MASK_SUFFIX = ".png"

MAX_GREY_IDS = 16
"""A greyscale mask with more distinct object levels than this (0 and 255 not counted) is
taken for an anti-aliased image, not for object ids."""

MAX_MASK_PIXELS = 8192 * 8192
"""Masks (and frames) larger than this many pixels are refused before decoding."""

_BINARIZE_HINT = (
    "resize masks with nearest-neighbour interpolation (PIL Image.NEAREST, "
    "cv2.INTER_NEAREST), or pass --binarize to read them as one object (grey >= 128)"
)


def _davis_palette() -> tuple[int, ...]:
    """The VOC/DAVIS colour map: the bits of each id are dealt out to R, G, B in turn,
    filling each channel from its most significant bit down."""
    values: list[int] = []
    for i in range(256):
        rgb = [0, 0, 0]
        code = i
        for bit in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((code >> channel) & 1) << bit
            code >>= 3
        values.extend(rgb)
    return tuple(values)


DAVIS_PALETTE: tuple[int, ...] = _davis_palette()
"""768 ints, ``R, G, B`` of id 0, then id 1, ...: id 1 = (128, 0, 0), 255 = (224, 224, 192)."""

DAVIS_COLORS: np.ndarray = np.array(DAVIS_PALETTE, dtype=np.uint8).reshape(256, 3)
"""``uint8 (256, 3)``: the colour of each id (read-only)."""
DAVIS_COLORS.flags.writeable = False


def _colour_codes(rgb: np.ndarray) -> np.ndarray:
    """``uint8 (..., 3)`` colours → ``int32 (...)`` codes ``R << 16 | G << 8 | B``."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


_ID_OF_CODE = {int(code): i for i, code in enumerate(_colour_codes(DAVIS_COLORS))}


def palette_image(mask: np.ndarray) -> Image.Image:
    """``uint8 (H, W)`` ids → palette ('P') PIL image with the DAVIS colours."""
    image = Image.fromarray(_as_ids(mask))
    image.putpalette(DAVIS_PALETTE)
    return image


def _as_ids(mask: np.ndarray) -> np.ndarray:
    """Validate a mask (any integer or bool dtype, values 0..255) → ``uint8 (H, W)``."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H, W), got shape {mask.shape}")
    if mask.dtype == np.uint8:
        return np.ascontiguousarray(mask)
    if mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.integer):
        if mask.size and (mask.min() < 0 or mask.max() > 255):
            raise ValueError("mask ids must be in 0..255")
        return mask.astype(np.uint8)
    raise TypeError(f"a mask must hold integer ids, got dtype {mask.dtype}")


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write ``uint8 (H, W)`` ids as a DAVIS-palette PNG, atomically. Reading it back with
    :func:`read_mask` gives the same array."""
    # zlib's fastest level: about half the encoding time of the default level; masks are
    # flat, so files stay a few kB
    with atomic_write(path) as f:
        palette_image(mask).save(f, format="PNG", compress_level=1)


def read_mask(
    path: str | Path,
    *,
    expected_size: tuple[int, int] | None = None,
    binarize: bool = False,
) -> np.ndarray:
    """Read a mask file → ``uint8 (H, W)`` of object ids.

    Accepted encodings:

    - palette ('P') PNG: the stored indices are the ids (DAVIS, YouTube-VOS);
    - greyscale ('L', '1', 16-bit) with only the values 0 and 255: a binary mask → {0, 1};
    - greyscale holding a few small ids: at most :data:`MAX_GREY_IDS` levels besides 0 and
      255 (255 stays void), none of them 128 or more when 255 is present;
    - RGB / RGBA: each colour is mapped to its DAVIS palette id (alpha is ignored).

    Any other greyscale mask looks anti-aliased (a binary mask resized with bilinear
    filtering, or saved as JPEG: levels between 0 and 255 along every edge) and is refused;
    with ``binarize`` every greyscale mask is thresholded instead: grey >= 128 → object 1.

    Args:
        path: the mask file.
        expected_size: ``(H, W)`` of the video's frames, checked before decoding.
        binarize: read greyscale masks as one object, thresholded at 128.

    Raises:
        MaskError: unreadable file, unsupported image mode, larger than
            :data:`MAX_MASK_PIXELS`, anti-aliased grey levels, or colours outside the DAVIS
            palette (up to five are listed).
        MaskSizeError: the mask's size differs from ``expected_size``.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            w, h = image.size
            if expected_size is not None and (h, w) != tuple(expected_size):
                eh, ew = expected_size
                raise MaskSizeError(path, f"mask is {w}×{h} but frames are {ew}×{eh}")
            if w * h > MAX_MASK_PIXELS:
                raise MaskError(
                    path, f"mask is {w}×{h}, more than {MAX_MASK_PIXELS:,} pixels; not read"
                )
            image.load()
            mode = image.mode
            array = np.asarray(image)
    except FileNotFoundError as e:
        raise MaskError(path, "mask file does not exist") from e
    except Image.DecompressionBombError as e:
        raise MaskError(
            path, "mask is larger than Pillow's decompression-bomb limit; not read"
        ) from e
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise MaskError(path, f"not a readable image ({e})") from e
    if mode in ("P", "PA"):
        return np.ascontiguousarray(array if array.ndim == 2 else array[..., 0], dtype=np.uint8)
    if mode in ("RGB", "RGBA"):
        return _ids_from_colours(path, array[..., :3])
    if mode == "1":
        return array.astype(np.uint8)
    if mode == "LA":
        array = array[..., 0]
    elif not (mode == "L" or mode.startswith("I")):
        raise MaskError(path, f"unsupported image mode '{mode}' for a mask")
    return _ids_from_grey(path, array, binarize=binarize)


def _ids_from_grey(path: Path, array: np.ndarray, *, binarize: bool = False) -> np.ndarray:
    values = np.unique(array)
    if values.size and (values[0] < 0 or values[-1] > 255):
        raise MaskError(path, f"grey values up to {values[-1]} do not fit 8-bit object ids")
    if binarize:
        return (array >= 128).astype(np.uint8)
    if set(values.tolist()) <= {0, 255}:
        return (array == 255).astype(np.uint8)
    levels = [int(v) for v in values if 0 < v < 255]
    ramp = VOID_ID in values and levels[-1] >= 128
    if len(levels) > MAX_GREY_IDS or ramp:
        shown = ", ".join(map(str, levels[:6])) + (", …" if len(levels) > 6 else "")
        raise MaskError(
            path,
            f"looks anti-aliased, not like object ids: {len(levels)} grey levels between 0 "
            f"and 255 ({shown}); {_BINARIZE_HINT}",
        )
    return array.astype(np.uint8)


def _ids_from_colours(path: Path, rgb: np.ndarray) -> np.ndarray:
    codes = _colour_codes(rgb)
    uniques, inverse = np.unique(codes, return_inverse=True)
    foreign = [int(c) for c in uniques if int(c) not in _ID_OF_CODE]
    if foreign:
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in foreign[:5])
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise MaskError(
            path,
            f"{len(foreign)} colour(s) not in the DAVIS palette: {shown}{more}; "
            "save masks as palette PNGs or colour them with the DAVIS palette",
        )
    lut = np.array([_ID_OF_CODE[int(c)] for c in uniques], dtype=np.uint8)
    return lut[inverse.reshape(codes.shape)]


def _frame_lookup(names: Sequence[str]) -> tuple[dict[str, int], dict[int, int]]:
    """Exact name → index, and (for all-digit names) number → index where unambiguous."""
    exact = {name: i for i, name in enumerate(names)}
    numeric: dict[int, int] = {}
    seen_twice: set[int] = set()
    for i, name in enumerate(names):
        if name.isdigit():
            n = int(name)
            if n in numeric:
                seen_twice.add(n)
            numeric[n] = i
    for n in seen_twice:
        del numeric[n]
    return exact, numeric


def frame_matcher(names: Sequence[str]) -> Callable[[str], int | None]:
    """``match(stem)``: the index of the frame a mask file's stem names, or None: the frame
    of that exact name, else, for an all-digit stem, the only all-digit frame name of the
    same number (``14`` ↔ ``00014``)."""
    exact, numeric = _frame_lookup(names)

    def match(stem: str) -> int | None:
        index = exact.get(stem)
        if index is None and stem.isdigit():
            index = numeric.get(int(stem))
        return index

    return match


def annotation_files(mask_dir: str | Path, names: Sequence[str]) -> dict[int, Path]:
    """The annotation files of a video → ``{frame index: file}`` (see
    :func:`read_annotations` for the matching rules), without reading them.

    Raises:
        MaskError: missing folder, no mask files, a mask that matches no frame (or the same
            frame as another mask).
    """
    mask_dir = Path(mask_dir)
    if mask_dir.is_file():
        files = [mask_dir]
    elif mask_dir.is_dir():
        files = sorted(
            p
            for p in mask_dir.iterdir()
            if p.suffix.lower() == MASK_SUFFIX and not p.name.startswith(".") and p.is_file()
        )
        if not files:
            raise MaskError(mask_dir, "no annotation: the folder holds no .png mask files")
    else:
        raise MaskError(mask_dir, "annotation folder does not exist")
    match = frame_matcher(names)
    found: dict[int, Path] = {}
    for file in files:
        stem = file.stem
        index = match(stem)
        if index is None:
            example = f"named like '{names[0]}'" if names else "none"
            raise MaskError(
                file,
                f"no frame named '{stem}': the video has {len(names)} frames ({example}); "
                "name each mask after the frame it annotates",
            )
        if index in found:
            raise MaskError(file, f"annotates the same frame as {found[index].name}")
        found[index] = file
    return {i: found[i] for i in sorted(found)}


def read_annotations(
    mask_dir: str | Path,
    names: Sequence[str],
    size: tuple[int, int],
    *,
    binarize: bool = False,
) -> dict[int, np.ndarray]:
    """Read the annotation masks of a video → ``{frame index: uint8 (H, W) ids}``.

    Every ``.png`` in ``mask_dir`` (hidden files ignored) is the annotation of the frame
    whose name equals the file's stem (``frame_000014.png`` ↔ frame ``frame_000014``).
    Matching is exact, with one convenience: an all-digit stem also matches the frame
    whose all-digit name has the same number (``14.png`` ↔ ``00014``), when only one does.
    ``mask_dir`` may also be a single mask file.

    Args:
        mask_dir: folder of mask files, or one mask file.
        names: the frame names of the video (:attr:`FrameSource.names`).
        size: ``(H, W)`` of the frames.
        binarize: read greyscale masks as one object (see :func:`read_mask`).

    Returns:
        The masks by frame index, in increasing index order.

    Raises:
        MaskError: missing folder, no mask files, a mask that matches no frame (or the same
            frame as another mask), or an unreadable or anti-aliased mask.
        MaskSizeError: a mask's size differs from ``size``.
    """
    found = annotation_files(mask_dir, names)
    masks = {i: read_mask(file, expected_size=size, binarize=binarize) for i, file in found.items()}
    log.debug("read %d annotations from %s", len(masks), mask_dir)
    return masks


def require_objects(masks: Mapping[int, np.ndarray], where: str | Path) -> None:
    """Check that some mask of ``masks`` holds an object (an id in 1..254).

    Raises:
        MaskError: naming ``where``, when every pixel is background (0) or void (255).
    """
    for mask in masks.values():
        if np.any((mask > 0) & (mask < VOID_ID)):
            return
    raise MaskError(
        where,
        "no object to track: every annotated pixel is background (0) or void (255); "
        "draw each object with its id (1..254)",
    )
