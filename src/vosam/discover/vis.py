"""Refinement of video instance segmentation results by a promptable segmenter (LBVQ).

Input and output are YouTube-VIS results: a JSON list of tracks ``{video_id, category_id,
score, segmentations}``, one compressed RLE (or null) per frame. The frames come from the
dataset's metadata JSON (``videos``: ``{id, file_names, height, width}``, as in YouTube-VIS
``valid.json``), with ``file_names`` relative to the videos root or to its ``JPEGImages``.

Each instance's mask on each frame is replaced by the segmenter's answer to the mask's box
(plus the mask itself as a mask prompt). A refined mask that agrees too little with the
original (IoU below ``min_agreement``: the segmenter took another object or the background)
is discarded and the original kept. Each frame is embedded once for all its instances.
Everything else in a track (score, category, extra keys) is kept as it was.

RLE work uses ``pycocotools``.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vosam.coco import mask_api
from vosam.discover.trajectories import box_of
from vosam.errors import InputError
from vosam.io import atomic_write_text
from vosam.jsonfile import parse_json
from vosam.progress import Progress
from vosam.refine import Prompt, PromptableSegmenter

log = logging.getLogger(__name__)


class VisFormatError(InputError):
    """A YouTube-VIS results or metadata file is malformed or does not match the videos."""


@dataclass(frozen=True)
class VisRefineConfig:
    """How instance masks are refined.

    Attributes:
        mask_prompt: give the instance's mask as a prompt together with its box.
        min_agreement: keep a refined mask only when its IoU with the original is at least
            this; otherwise the original stays.
        min_area: masks with fewer pixels than this are left as they are.
    """

    mask_prompt: bool = True
    min_agreement: float = 0.3
    min_area: int = 4


@dataclass(frozen=True)
class VisVideo:
    """One video of the metadata: ``id``, frame files, and ``(height, width)``."""

    id: int
    file_names: tuple[str, ...]
    height: int
    width: int


def _mask_api():
    return mask_api("VIS refinement")


def _load(path: Path, what: str) -> Any:
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VisFormatError(path, f"{what} file does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VisFormatError(path, f"cannot read the {what} JSON ({e})") from e


def read_vis_videos(path: str | Path) -> dict[int, VisVideo]:
    """Videos of a YouTube-VIS metadata / ground-truth JSON: id → :class:`VisVideo`."""
    path = Path(path)
    data = _load(path, "metadata")
    try:
        videos = {
            int(v["id"]): VisVideo(
                int(v["id"]), tuple(v["file_names"]), int(v["height"]), int(v["width"])
            )
            for v in data["videos"]
        }
    except (KeyError, TypeError, ValueError) as e:
        raise VisFormatError(
            path, f"not YouTube-VIS metadata: needs videos with id, file_names, height, width ({e})"
        ) from e
    return videos


def read_vis_results(path: str | Path) -> Any:
    """The parsed content of a YouTube-VIS results JSON file (checked by :func:`refine_vis`)."""
    return _load(Path(path), "results")


def _check_results(data: Any, videos: dict[int, VisVideo], path: Path | None) -> list[dict]:
    if not isinstance(data, list):
        raise VisFormatError(path, "results must be a JSON list of tracks")
    for i, r in enumerate(data):
        where = f"result #{i}"
        if not isinstance(r, dict) or "video_id" not in r or "segmentations" not in r:
            raise VisFormatError(path, f"{where}: needs video_id and segmentations")
        video = videos.get(r["video_id"])
        if video is None:
            raise VisFormatError(
                path, f"{where}: video_id {r['video_id']!r} is not in the metadata"
            )
        segs = r["segmentations"]
        if not isinstance(segs, list) or len(segs) != len(video.file_names):
            n = len(segs) if isinstance(segs, list) else "no list of"
            raise VisFormatError(
                path, f"{where}: has {n} segmentations for {len(video.file_names)} frames"
            )
        for t, seg in enumerate(segs):
            if seg is None:
                continue
            if not isinstance(seg, dict) or "counts" not in seg or "size" not in seg:
                raise VisFormatError(path, f"{where}, frame {t}: not an RLE segmentation")
            if [int(v) for v in seg["size"]] != [video.height, video.width]:
                raise VisFormatError(
                    path,
                    f"{where}, frame {t}: mask is {seg['size'][1]}×{seg['size'][0]} but the "
                    f"video is {video.width}×{video.height}",
                )
    return data


def _frame_path(root: Path, name: str) -> Path:
    for candidate in (root / name, root / "JPEGImages" / name):
        if candidate.is_file():
            return candidate
    raise InputError(root / name, "frame file does not exist (nor under JPEGImages/)")


def _read_image(path: Path, video: VisVideo) -> np.ndarray:
    try:
        with Image.open(path) as im:
            image = np.asarray(im.convert("RGB"))
    except OSError as e:
        raise InputError(path, f"not a readable image ({e})") from e
    if image.shape[:2] != (video.height, video.width):
        raise InputError(
            path,
            f"frame is {image.shape[1]}×{image.shape[0]} but the metadata says "
            f"{video.width}×{video.height}",
        )
    return image


def _decode(seg: dict, mask_api) -> np.ndarray:
    rle = dict(seg)
    if isinstance(rle["counts"], list):
        h, w = rle["size"]
        rle = mask_api.frPyObjects(rle, h, w)
    elif isinstance(rle["counts"], str):
        rle["counts"] = rle["counts"].encode("ascii")
    return mask_api.decode(rle).astype(bool)


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed RLE of a bool ``(H, W)`` mask, JSON-ready (``counts`` as text)."""
    rle = _mask_api().encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def refine_vis(
    results: list[dict],
    videos: dict[int, VisVideo],
    videos_root: str | Path,
    segmenter: PromptableSegmenter,
    *,
    config: VisRefineConfig | None = None,
    progress: Progress | None = None,
    results_path: str | Path | None = None,
) -> list[dict]:
    """Refine every instance mask of YouTube-VIS ``results`` (see the module docstring).

    Args:
        results: the parsed results list.
        videos: the metadata (:func:`read_vis_videos`).
        videos_root: folder the frame ``file_names`` are relative to.
        segmenter: the promptable segmenter.
        config: refinement settings.
        progress: updated once per frame that holds at least one mask.
        results_path: the results file, for error messages.

    Returns:
        New results, in the same order, with refined ``segmentations``.

    Raises:
        VisFormatError: malformed results or a track that does not fit its video.
        InputError: a missing or unreadable frame.
    """
    cfg = config or VisRefineConfig()
    mask_api = _mask_api()
    root = Path(videos_root)
    path = None if results_path is None else Path(results_path)
    _check_results(results, videos, path)
    out = [dict(r, segmentations=list(r["segmentations"])) for r in results]
    by_video: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(results):
        by_video[r["video_id"]].append(i)
    kept = refined = 0
    for vid, tracks in by_video.items():
        video = videos[vid]
        for t, name in enumerate(video.file_names):
            present = [i for i in tracks if results[i]["segmentations"][t] is not None]
            if not present:
                continue
            embedding = None
            for i in present:
                original = _decode(results[i]["segmentations"][t], mask_api)
                box = box_of(original)
                if box is None or np.count_nonzero(original) < cfg.min_area:
                    continue
                if embedding is None:
                    image = _read_image(_frame_path(root, name), video)
                    embedding = segmenter.embed(image)
                prompt = Prompt(
                    box=box, mask=original.astype(np.float32) if cfg.mask_prompt else None
                )
                new = segmenter.predict(embedding, prompt).mask.astype(bool)
                if _iou(new, original) < cfg.min_agreement:
                    kept += 1
                    continue
                refined += 1
                out[i]["segmentations"][t] = encode_rle(new)
            if progress is not None:
                progress.update()
    log.info("%d masks refined, %d kept (refinement disagreed)", refined, kept)
    return out


def refine_vis_file(
    results_path: str | Path,
    metadata_path: str | Path,
    videos_root: str | Path,
    out_path: str | Path,
    segmenter: PromptableSegmenter,
    *,
    config: VisRefineConfig | None = None,
    progress: Progress | None = None,
) -> int:
    """:func:`refine_vis` from and to files; the output is written atomically.

    Returns:
        The number of tracks written.
    """
    videos = read_vis_videos(metadata_path)
    results = read_vis_results(results_path)
    refined = refine_vis(
        results,
        videos,
        videos_root,
        segmenter,
        config=config,
        progress=progress,
        results_path=results_path,
    )
    atomic_write_text(out_path, json.dumps(refined) + "\n")
    return len(refined)


def frames_with_masks(results: list[dict], videos: dict[int, VisVideo]) -> int:
    """How many (video, frame) pairs hold at least one mask: the work :func:`refine_vis`
    reports progress over."""
    seen = set()
    for r in results:
        for t, seg in enumerate(r.get("segmentations") or []):
            if seg is not None and r.get("video_id") in videos:
                seen.add((r["video_id"], t))
    return len(seen)
