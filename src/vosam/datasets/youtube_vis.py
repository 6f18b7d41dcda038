"""YouTube-VIS (2019, 2021, 2022) and OVIS: videos, instance tracks and categories.

Layouts as published::

    YouTube-VIS 2019:  ROOT/train.json, ROOT/valid.json, ROOT/<split>/JPEGImages/<video>/*.jpg
    YouTube-VIS 2021:  ROOT/<split>/instances.json,     ROOT/<split>/JPEGImages/<video>/*.jpg
    OVIS:              ROOT/annotations_<split>.json,   ROOT/<split>/<video>/*.jpg

The JSON holds ``videos`` ({id, file_names: ["<video>/00000.jpg", ...] relative to the
image folder, height, width, length}), ``categories`` ({id, name}) and, where the split is
public, ``annotations`` ({id, video_id, category_id, iscrowd, segmentations: one entry per
frame, null where the instance is absent; compressed RLE, uncompressed RLE or polygons}).
``ROOT`` may also be the JSON itself (images then next to it in ``JPEGImages/`` or
``<split>/``).

As a dataset for :func:`vosam.datasets.open_dataset`, each video is a semi-supervised
sequence: instance ``k`` (in annotation order) becomes object ``k + 1``, given on the
first frame where its segmentation is not null. Results JSON (what the YouTube-VIS server
and :func:`vosam.eval.evaluate_vis` read), written by :func:`write_vis_results`: a list of
``{video_id, category_id, score, segmentations: [compressed RLE or null per frame]}``.

RLE work needs ``pycocotools`` (the ``eval`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vosam.coco import mask_api
from vosam.datasets.base import AnnotationInput, DatasetSequence, choose, mismatch, read_json
from vosam.errors import InputError

__all__ = [
    "VisDataset",
    "VisTrack",
    "VisVideo",
    "decode_segmentation",
    "find_vis_json",
    "load_vis",
    "read_youtube_vis",
    "vis_frame_mask",
    "write_vis_results",
]

MAX_TRACKS = 254


@dataclass(frozen=True)
class VisVideo:
    """One video: ``file_names`` relative to the image folder; ``(height, width)``."""

    id: int
    name: str
    file_names: tuple[str, ...]
    height: int
    width: int


@dataclass(frozen=True)
class VisTrack:
    """One instance track: its category and one raw segmentation (or None) per frame."""

    id: int
    video_id: int
    category_id: int
    segmentations: tuple[object, ...]
    iscrowd: bool = False

    def start(self) -> int | None:
        """Index of the first frame where the instance is present."""
        return next((i for i, s in enumerate(self.segmentations) if s is not None), None)


@dataclass(frozen=True)
class VisDataset:
    """A parsed YouTube-VIS / OVIS JSON and the folder its ``file_names`` are relative to."""

    json_path: Path
    images: Path
    videos: tuple[VisVideo, ...]
    categories: dict[int, str]
    tracks: dict[int, tuple[VisTrack, ...]]


def _mask_api():
    return mask_api()


def decode_segmentation(seg: object, height: int, width: int) -> np.ndarray:
    """A YouTube-VIS segmentation (RLE, uncompressed RLE or polygons) → ``bool (H, W)``."""
    api = _mask_api()
    if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
        rle = api.frPyObjects(seg, height, width)
    elif isinstance(seg, dict):
        counts = seg["counts"]
        rle = {
            "size": seg["size"],
            "counts": counts.encode() if isinstance(counts, str) else counts,
        }
    elif isinstance(seg, list):
        rle = api.merge(api.frPyObjects(seg, height, width))
    else:
        raise ValueError(f"unknown segmentation {type(seg).__name__}")
    return api.decode(rle).astype(bool)


def find_vis_json(root: Path, split: str) -> tuple[Path, Path]:
    """(JSON, image folder) of a YouTube-VIS / OVIS root for ``split``."""
    if root.is_file():
        base = root.parent
        for images in (base / "JPEGImages", base / split / "JPEGImages", base / split, base):
            if images.is_dir():
                return root, images
        raise InputError(root, "no image folder next to this JSON (expected JPEGImages/)")
    candidates = (
        (root / f"{split}.json", root / split / "JPEGImages"),
        (root / split / "instances.json", root / split / "JPEGImages"),
        (root / f"annotations_{split}.json", root / split),
    )
    for json_path, images in candidates:
        if json_path.is_file() and images.is_dir():
            return json_path, images
    mismatch(
        root,
        "YouTube-VIS/OVIS",
        [
            f"{split}.json + {split}/JPEGImages/ (2019)",
            f"{split}/instances.json + {split}/JPEGImages/ (2021)",
            f"annotations_{split}.json + {split}/ (OVIS)",
        ],
    )
    raise AssertionError  # mismatch raises


def load_vis(json_path: Path, images: Path) -> VisDataset:
    """Parse a YouTube-VIS / OVIS JSON (cached while the file is unchanged: one parse
    serves every video)."""
    try:
        stamp = json_path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _load_vis(Path(json_path), Path(images), stamp)


@lru_cache(maxsize=4)
def _load_vis(json_path: Path, images: Path, stamp: int) -> VisDataset:
    data = read_json(json_path, "YouTube-VIS JSON")
    try:
        videos = tuple(
            VisVideo(
                int(v["id"]),
                Path(v["file_names"][0]).parent.as_posix(),
                tuple(v["file_names"]),
                int(v["height"]),
                int(v["width"]),
            )
            for v in data["videos"]  # type: ignore[index]
        )
        categories = {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}  # type: ignore[union-attr]
        tracks: dict[int, list[VisTrack]] = {v.id: [] for v in videos}
        for a in data.get("annotations", []):  # type: ignore[union-attr]
            tracks.setdefault(int(a["video_id"]), []).append(
                VisTrack(
                    int(a["id"]),
                    int(a["video_id"]),
                    int(a["category_id"]),
                    tuple(a["segmentations"]),
                    bool(a.get("iscrowd", 0)),
                )
            )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise InputError(
            json_path,
            "not a YouTube-VIS JSON: expected videos [{id, file_names, height, width}], "
            f"categories and annotations (problem at {e!r})",
        ) from e
    by_video = {k: tuple(sorted(v, key=lambda t: t.id)) for k, v in tracks.items()}
    return VisDataset(json_path, images, videos, categories, by_video)


def vis_frame_mask(dataset: VisDataset, video_id: int, frame: int) -> np.ndarray:
    """``uint8 (H, W)`` ids of frame ``frame``: track ``k`` of the video painted as ``k + 1``
    (later tracks over earlier ones where they overlap)."""
    video = next(v for v in dataset.videos if v.id == video_id)
    mask = np.zeros((video.height, video.width), np.uint8)
    for k, track in enumerate(dataset.tracks.get(video_id, ())[:MAX_TRACKS]):
        seg = track.segmentations[frame]
        if seg is not None:
            mask[decode_segmentation(seg, video.height, video.width)] = k + 1
    return mask


def read_youtube_vis(
    root: str | Path, *, split: str | None = None, names: list[str] | None = None
) -> list[DatasetSequence]:
    """Videos with ground-truth tracks as semi-supervised sequences (see module docstring).

    Raises:
        LayoutMismatch: ``root`` is not in one of the layouts above.
        InputError: the JSON is unreadable, or a video has no annotated instance (a split
            without public annotations cannot be run semi-supervised).
    """
    json_path, images = find_vis_json(Path(root), split or "train")
    data = load_vis(json_path, images)
    by_name = {v.name: v for v in data.videos}
    out = []
    for name in choose(list(by_name), names, json_path):
        video = by_name[name]
        tracks = data.tracks.get(video.id, ())
        starts_at = {k + 1: t.start() for k, t in enumerate(tracks[:MAX_TRACKS])}
        starts_at = {k: s for k, s in starts_at.items() if s is not None}
        if not starts_at:
            raise InputError(json_path, f"video '{name}' has no annotated instance")
        frames = [Path(f).stem for f in video.file_names]
        inputs = {}
        for index in sorted(set(starts_at.values())):
            keep = tuple(k for k, s in starts_at.items() if s == index)
            inputs[frames[index]] = AnnotationInput(
                json_path, keep=keep, partial=True, vis=(str(images), video.id, index)
            )
        out.append(
            DatasetSequence(
                name=name,
                frames=images / name,
                inputs=inputs,
                starts={k: frames[s] for k, s in starts_at.items()},
                write=tuple(frames),
                output=Path(name),
                annotations=json_path,
                category={
                    k + 1: data.categories.get(t.category_id, str(t.category_id))
                    for k, t in enumerate(tracks[:MAX_TRACKS])
                },
            )
        )
    return out


def write_vis_results(path: Path, root: str | Path, out: Path, *, split: str | None = None) -> int:
    """Gather the PNGs of ``out/<video>/`` into a results JSON at ``path`` (through a
    :class:`~vosam.sinks.VisJsonSink`; videos without a folder are left out).

    Object ``k + 1`` of a video is reported as ground-truth track ``k``'s category with
    score 1. Returns the number of tracks written.
    """
    from vosam.io import read_mask
    from vosam.sinks import VisJsonSink

    json_path, images = find_vis_json(Path(root), split or "train")
    data = load_vis(json_path, images)
    sink = VisJsonSink(path)
    tracks = 0
    try:
        for video in data.videos:
            folder = out / video.name
            if not folder.is_dir():
                continue
            names = [Path(f).stem for f in video.file_names]
            categories = [t.category_id for t in data.tracks.get(video.id, ())[:MAX_TRACKS]]
            sink.video(video.id, names, categories)
            for name in names:
                sink.write_mask(name, read_mask(folder / f"{name}.png"))
            tracks += len(categories)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return tracks
