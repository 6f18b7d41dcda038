"""What the app exports: palette PNGs in a zip, an overlay video, YouTube-VIS JSON.

Every file is written atomically inside the session's export folder; the zip and the
video through the sinks of :mod:`vosam.sinks`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vosam.app.quota import size_text
from vosam.errors import InputError
from vosam.io import atomic_write_text
from vosam.sinks import OverlaySink, PaletteZipSink


def write_mask_zip(
    path: Path,
    names: Sequence[str],
    mask_of: Callable[[int], np.ndarray],
    advance: Callable[[], None],
) -> None:
    """``path``: a zip of ``<frame name>.png`` DAVIS-palette masks, one per frame.

    ``mask_of(i)`` gives frame ``i``'s ``uint8 (H, W)`` ids; ``advance()`` is called after
    each frame (it may raise to stop, leaving nothing behind).
    """
    sink = PaletteZipSink(path)
    try:
        for index, name in enumerate(names):
            sink.write_mask(name, mask_of(index))
            advance()
    except BaseException:
        sink.abort()
        raise
    sink.close()


def write_overlay_video(
    path: Path,
    frames: Iterator[tuple[int, np.ndarray]],
    size: tuple[int, int],
    mask_of: Callable[[int], np.ndarray],
    fps: float,
    advance: Callable[[], None],
) -> None:
    """``path``: the frames ``(index, uint8 (H, W, 3))`` with their masks overlaid."""
    sink = OverlaySink.to(path, fps, size)
    try:
        for index, image in frames:
            sink.write_mask(image, mask_of(index))
            advance()
    except BaseException:
        sink.abort()
        raise
    sink.close()


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE of a boolean ``(H, W)``: run lengths in column-major order,
    starting with a (possibly empty) run of zeros."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return counts


def youtube_vis(
    names: Sequence[str],
    size: tuple[int, int],
    objects: Sequence[tuple[int, str]],
    mask_of: Callable[[int], np.ndarray],
    advance: Callable[[], None],
    *,
    video_name: str = "video",
) -> dict:
    """The masks as a YouTube-VIS ground-truth-style dataset (one video).

    ``objects`` are ``(id, name)``; each distinct name is a category (ids from 1 in order of
    first appearance) and each object one annotation whose ``segmentations`` hold one
    uncompressed RLE per frame, or null where the object is absent. ``vosam eval --task vis``
    reads it as ground truth.
    """
    h, w = size
    categories: dict[str, int] = {}
    for _, name in objects:
        categories.setdefault(name, len(categories) + 1)
    tracks = {oid: {"segmentations": [], "areas": [], "bboxes": []} for oid, _ in objects}
    for index in range(len(names)):
        mask = mask_of(index)
        for oid, track in tracks.items():
            fg = mask == oid
            area = int(fg.sum())
            if area == 0:
                track["segmentations"].append(None)
                track["areas"].append(None)
                track["bboxes"].append(None)
                continue
            ys, xs = np.nonzero(fg)
            x0, y0 = int(xs.min()), int(ys.min())
            track["segmentations"].append({"size": [h, w], "counts": rle_counts(fg)})
            track["areas"].append(area)
            track["bboxes"].append([x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1])
        advance()
    return {
        "videos": [
            {
                "id": 1,
                "name": video_name,
                "width": w,
                "height": h,
                "length": len(names),
                "file_names": [f"{video_name}/{n}.jpg" for n in names],
            }
        ],
        "categories": [{"id": cid, "name": name} for name, cid in categories.items()],
        "annotations": [
            {
                "id": oid,
                "video_id": 1,
                "category_id": categories[name],
                "iscrowd": 0,
                "height": h,
                "width": w,
                **tracks[oid],
            }
            for oid, name in objects
        ],
    }


def write_youtube_vis(path: Path, data: dict, *, room: int | None = None) -> None:
    """Write ``data`` as compact JSON; refused when it is longer than ``room`` bytes."""
    text = json.dumps(data, separators=(",", ":"))
    if room is not None and len(text) > room:
        raise InputError(path.name, f"{size_text(len(text))} do not fit the disk quota")
    atomic_write_text(path, text)
