"""LVOS (v1 and v2 releases), semi-supervised.

Layout as published (``<split>`` is ``train``, ``valid`` or ``test``; LVOS v2 names the
validation split ``val``)::

    ROOT/<split>/JPEGImages/<video>/00000001.jpg ...   every frame, numbered from 1
    ROOT/<split>/Annotations/<video>/00000001.png ...  palette PNGs; train and valid are
                                                       annotated every 5th frame
    ROOT/<split>/<split>_meta.json
    ROOT/<split>/<split>_expression_meta.json   v1 captions (not used)
    ROOT/<split>/<split>_meta_attribute.json    v2 attributes (not used)

The meta JSON is ``{"videos": {<video>: {"objects": {"<id>": {"frame_range": {"start": S,
"end": E, "frame_nums": N}}}}}}``: object ``id`` appears on frame number ``S`` (its
reference annotation; frame numbers are the file names read as integers) and is evaluated
up to ``E``. Objects may start after the first frame. Without the meta JSON an object
starts on the first annotation that holds it. ``ROOT`` may also be the split folder.

Input: on each object's start frame, that frame's annotation restricted to the objects
starting there; objects already tracked keep their prediction. Results, the layout the
LVOS evaluation reads (and :func:`vosam.eval.evaluate_dataset` with ``protocol="lvos"``)::

    OUT/<video>/<frame>.png   every frame, named as the JPEGs
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vosam.datasets.base import (
    AnnotationInput,
    DatasetSequence,
    choose,
    frame_names,
    mismatch,
    read_json,
)
from vosam.errors import InputError

__all__ = ["read_lvos"]

EXPECTED = (
    "<split>/JPEGImages/<video>/*.jpg",
    "<split>/Annotations/<video>/*.png",
    "<split>/<split>_meta.json (optional)",
)


def _split_dir(root: Path, split: str) -> Path:
    if (root / "JPEGImages").is_dir() and (root / "Annotations").is_dir():
        return root
    folder = root / split
    want = [e.replace("<split>", split) for e in EXPECTED]
    if not folder.is_dir():
        mismatch(root, "LVOS", want)
    for part in ("JPEGImages", "Annotations"):
        if not (folder / part).is_dir():
            mismatch(root, "LVOS", want, folder)
    return folder


def _default_split(root: Path) -> str:
    """``valid`` (v1's folder name) or ``val`` (v2's), whichever exists; ``valid`` if none."""
    for name in ("valid", "val"):
        if (root / name).is_dir():
            return name
    return "valid"


def _meta_file(split_dir: Path) -> Path | None:
    """The split's object meta JSON: ``<split>_meta.json``, else the only ``*_meta.json``
    that is not v1's caption file (``*_expression_meta.json``); None when there is none."""
    named = split_dir / f"{split_dir.name}_meta.json"
    if named.is_file():
        return named
    metas = [
        p
        for p in sorted(split_dir.glob("*_meta.json"))
        if not p.name.endswith("expression_meta.json")
    ]
    return metas[0] if len(metas) == 1 else None


def _meta_starts(path: Path) -> dict[str, dict[int, int]]:
    data = read_json(path, "LVOS meta JSON")
    try:
        return {
            video: {
                int(oid): int(info["frame_range"]["start"])
                for oid, info in entry["objects"].items()
            }
            for video, entry in data["videos"].items()  # type: ignore[index]
        }
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(
            path,
            'not LVOS metadata: expected {"videos": {<video>: {"objects": {"<id>": '
            f'{{"frame_range": {{"start": .., "end": ..}}}}}}}}}} (problem at {e!r})',
        ) from e


def _first_appearances(ann_dir: Path) -> dict[int, str]:
    from vosam.io import read_mask

    starts: dict[int, str] = {}
    for frame in frame_names(ann_dir, (".png",)):
        for oid in np.unique(read_mask(ann_dir / f"{frame}.png")):
            if 0 < oid < 255:
                starts.setdefault(int(oid), frame)
    return starts


def read_lvos(
    root: str | Path, *, split: str | None = None, names: list[str] | None = None
) -> list[DatasetSequence]:
    """The videos of an LVOS split (default ``valid``, or ``val`` as v2 names it); see the
    module docstring.

    Raises:
        LayoutMismatch: ``root`` is not in this layout.
        InputError: unreadable meta JSON, a video missing from it, a start frame without a
            JPEG or an annotation.
    """
    root = Path(root)
    split = split or _default_split(root)
    split_dir = _split_dir(root, split)
    meta_path = _meta_file(split_dir)
    meta = _meta_starts(meta_path) if meta_path is not None else None
    videos = sorted(p.name for p in (split_dir / "JPEGImages").iterdir() if p.is_dir())
    out = []
    for video in choose(videos, names, split_dir / "JPEGImages"):
        frames_dir = split_dir / "JPEGImages" / video
        frames = frame_names(frames_dir)
        if not frames:
            raise InputError(frames_dir, "video has no frames")
        ann_dir = split_dir / "Annotations" / video
        if meta is not None:
            if video not in meta:
                raise InputError(meta_path, f"no entry for video '{video}'")
            by_number = {int(f): f for f in frames if f.isdigit()}
            starts = {}
            for oid, number in sorted(meta[video].items()):
                if number not in by_number:
                    raise InputError(
                        frames_dir, f"object {oid} starts on frame {number}, which has no JPEG"
                    )
                starts[oid] = by_number[number]
        else:
            starts = _first_appearances(ann_dir)
            if not starts:
                raise InputError(ann_dir, "no annotated object in this video")
        inputs = {}
        for frame in sorted(set(starts.values()), key=frames.index):
            path = ann_dir / f"{frame}.png"
            if not path.is_file():
                raise InputError(path, "annotation of an object's start frame is missing")
            keep = tuple(oid for oid, f in starts.items() if f == frame)
            inputs[frame] = AnnotationInput(path, keep=keep, partial=True)
        out.append(
            DatasetSequence(
                name=video,
                frames=frames_dir,
                inputs=inputs,
                starts=starts,
                write=None,
                output=Path(video),
                annotations=ann_dir,
            )
        )
    return out
