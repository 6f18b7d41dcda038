"""YouTube-VOS (2018 and 2019 releases), semi-supervised.

Layout as published (both years; 2019 adds videos and categories, not folders)::

    ROOT/train/JPEGImages/<video>/00000.jpg, 00005.jpg, ...   every 5th frame of the video
    ROOT/train/Annotations/<video>/00000.png ...              palette PNGs, ids 1..N
    ROOT/train/meta.json
    ROOT/valid/JPEGImages/<video>/*.jpg                       every 5th frame
    ROOT/valid/Annotations/<video>/<frame>.png                only frames where objects
                                                              first appear, only those objects
    ROOT/valid/meta.json
    ROOT/valid_all_frames/JPEGImages/<video>/*.jpg            optional, every frame
    (or ROOT/all_frames/valid_all_frames/JPEGImages, as XMem and STCN arrange it)

``meta.json`` is ``{"videos": {<video>: {"objects": {"<id>": {"category": <name>,
"frames": ["00000", "00005", ...]}}}}}`` (``category`` only in train). An object's first
listed frame is where it appears; the frames an evaluation scores are the union of the
objects' lists. ``ROOT`` may also be the split folder itself.

Input: on each object's first frame, the annotation of that frame restricted to the
objects starting there; objects already tracked keep their prediction on that frame.
When an all-frames copy is present, propagation runs on every frame.

Results, as the evaluation server takes them (a zip of ``Annotations/``)::

    OUT/Annotations/<video>/<frame>.png   palette PNGs, only the frames meta.json lists
"""

from __future__ import annotations

from pathlib import Path

from vosam.datasets.base import (
    AnnotationInput,
    DatasetSequence,
    choose,
    frame_names,
    mismatch,
    read_json,
)
from vosam.errors import InputError

__all__ = ["read_youtube_vos"]

EXPECTED = (
    "<split>/JPEGImages/<video>/*.jpg",
    "<split>/Annotations/<video>/*.png",
    "<split>/meta.json",
)


def _split_dir(root: Path, split: str) -> Path:
    if (root / "JPEGImages").is_dir() and (root / "meta.json").is_file():
        return root
    folder = root / split
    if not folder.is_dir():
        mismatch(root, "YouTube-VOS", [e.replace("<split>", split) for e in EXPECTED])
    for part in ("JPEGImages", "Annotations", "meta.json"):
        if not (folder / part).exists():
            mismatch(root, "YouTube-VOS", [e.replace("<split>", split) for e in EXPECTED], folder)
    return folder


def _all_frames(root: Path, split_dir: Path) -> Path | None:
    split = split_dir.name
    for base in (split_dir.parent, root):
        for candidate in (
            base / f"{split}_all_frames" / "JPEGImages",
            base / "all_frames" / f"{split}_all_frames" / "JPEGImages",
        ):
            if candidate.is_dir():
                return candidate
    return None


def _objects(meta: object, path: Path) -> dict[str, dict[int, tuple[list[str], str | None]]]:
    try:
        out = {}
        for video, entry in meta["videos"].items():  # type: ignore[index]
            objs = {}
            for oid, info in entry["objects"].items():
                objs[int(oid)] = ([str(f) for f in info["frames"]], info.get("category"))
            out[video] = objs
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(
            path,
            'not YouTube-VOS metadata: expected {"videos": {<video>: {"objects": {"<id>": '
            f'{{"frames": [...]}}}}}}}} (problem at {e!r})',
        ) from e
    return out


def read_youtube_vos(
    root: str | Path,
    *,
    split: str | None = None,
    names: list[str] | None = None,
    all_frames: bool = True,
) -> list[DatasetSequence]:
    """The videos of a YouTube-VOS split (default ``valid``); see the module docstring.

    Args:
        root: the release folder (holding ``train/``, ``valid/``) or a split folder.
        split: ``train``, ``valid`` or ``test``.
        names: videos to take (default: every video of ``meta.json``).
        all_frames: propagate on the all-frames copy when it is present.

    Raises:
        LayoutMismatch: ``root`` is not in this layout (says what is expected and found).
        InputError: unreadable ``meta.json``, a video without frames, or a missing
            annotation of an object's first frame.
    """
    root = Path(root)
    split_dir = _split_dir(root, split or "valid")
    meta_path = split_dir / "meta.json"
    objects = _objects(read_json(meta_path, "YouTube-VOS meta.json"), meta_path)
    dense = _all_frames(root, split_dir) if all_frames else None
    out = []
    for video in choose(list(objects), names, meta_path):
        sparse_dir = split_dir / "JPEGImages" / video
        sparse = frame_names(sparse_dir)
        if not sparse:
            raise InputError(sparse_dir, "video has no frames")
        frames_dir = sparse_dir
        if dense is not None and frame_names(dense / video):
            frames_dir = dense / video
        ann_dir = split_dir / "Annotations" / video
        starts: dict[int, str] = {}
        category: dict[int, str] = {}
        scored: set[str] = set()
        for oid, (listed, cat) in sorted(objects[video].items()):
            if not listed:
                raise InputError(meta_path, f"video {video}, object {oid}: no frames listed")
            starts[oid] = min(listed, key=lambda f: (len(f), f))
            scored.update(listed)
            if cat is not None:
                category[oid] = cat
        inputs = {}
        for frame in sorted(set(starts.values()), key=lambda f: (len(f), f)):
            path = ann_dir / f"{frame}.png"
            if not path.is_file():
                raise InputError(path, "annotation of an object's first frame is missing")
            keep = tuple(oid for oid, f in starts.items() if f == frame)
            inputs[frame] = AnnotationInput(path, keep=keep, partial=True)
        missing = sorted(scored - set(sparse))
        if missing:
            raise InputError(sparse_dir, f"meta.json lists frames without a JPEG: {missing[:3]}")
        write = tuple(f for f in sparse if f in scored)
        out.append(
            DatasetSequence(
                name=video,
                frames=frames_dir,
                inputs=inputs,
                starts=starts,
                write=write,
                output=Path("Annotations") / video,
                annotations=ann_dir,
                category=category,
            )
        )
    return out
