"""YouTube-VIS evaluation: AP, AP50, AP75, AR1, AR10 of video instance tracks.

Inputs:

- ground truth, YouTube-VIS JSON: ``videos`` ({id, height, width, length or file_names}),
  ``categories`` ({id, name}) and ``annotations`` ({id, video_id, category_id, iscrowd,
  segmentations: one per frame, RLE, uncompressed RLE, polygons or null});
- results JSON: a list of {video_id, category_id, score, segmentations: one compressed
  RLE or null per frame}.

Video IoU of two tracks = Σ_t |A_t ∩ B_t| / Σ_t |A_t ∪ B_t| (0 when both are empty
throughout). Matching and averaging are those of COCO, per (video, category): tracks sorted
by score (ties keep the file order), at most 100 per video and category, greedy matching
at IoU thresholds 0.50:0.05:0.95, crowd tracks ignored, precision interpolated at 101
recall points. AP averages over thresholds, recall points and categories; AR1/AR10 is the
recall with at most 1/10 tracks per video, averaged over thresholds and categories.
A figure without any ground truth to measure is -1, as in COCO.

RLE work uses ``pycocotools`` (an optional dependency: ``pip install pycocotools``).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vosam.coco import mask_api
from vosam.eval.errors import ResultsFormatError
from vosam.jsonfile import parse_json

__all__ = ["VIS_KEYS", "VISResult", "evaluate_vis", "video_iou"]

log = logging.getLogger(__name__)

VIS_KEYS: tuple[str, ...] = ("AP", "AP50", "AP75", "AR1", "AR10")
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)


def _mask_api():
    return mask_api("YouTube-VIS evaluation")


@dataclass(frozen=True)
class VISResult:
    """YouTube-VIS figures (fractions; -1 where no ground truth exists).

    Attributes:
        ap, ap50, ap75: average precision over IoU 0.50:0.95, at 0.50, at 0.75.
        ar1, ar10: average recall with at most 1 / 10 tracks per video and category.
        per_category: category id → AP over IoU 0.50:0.95 (-1 without ground truth).
        category_names: category id → name, from the ground truth.
    """

    ap: float
    ap50: float
    ap75: float
    ar1: float
    ar10: float
    per_category: dict[int, float] = field(default_factory=dict)
    category_names: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_category", dict(self.per_category))
        object.__setattr__(self, "category_names", dict(self.category_names))

    @property
    def summary(self) -> dict[str, float]:
        """``{"AP", "AP50", "AP75", "AR1", "AR10"}`` → value."""
        return dict(
            zip(VIS_KEYS, (self.ap, self.ap50, self.ap75, self.ar1, self.ar10), strict=True)
        )


@dataclass
class _Track:
    index: int  # position in its file (ties in score keep this order)
    video_id: int
    category_id: int
    score: float
    rles: list  # per frame: compressed RLE dict or None
    crowd: bool = False


def _load_json(source: str | Path | Any, what: str) -> tuple[Any, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            return parse_json(path.read_text(encoding="utf-8")), str(path)
        except FileNotFoundError:
            raise ResultsFormatError(path, f"{what} file does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ResultsFormatError(path, f"cannot read the {what} JSON ({e})") from e
    return source, f"<{what}>"


def _to_rle(seg: Any, h: int, w: int, where: str, mask_api) -> dict | None:
    if seg is None:
        return None
    try:
        if isinstance(seg, list):  # polygons
            if not seg:
                return None
            return mask_api.merge(mask_api.frPyObjects(seg, h, w))
        if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
            rle = mask_api.frPyObjects(seg, h, w)
        elif isinstance(seg, dict) and isinstance(seg.get("counts"), (str, bytes)):
            rle = dict(seg)
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
        else:
            raise TypeError(f"unsupported segmentation {type(seg).__name__}")
        size = [int(v) for v in rle["size"]]
    except (TypeError, KeyError, ValueError) as e:
        raise ResultsFormatError(where, f"bad segmentation ({e})") from e
    if size != [h, w]:
        raise ResultsFormatError(
            where, f"segmentation is {size[1]}×{size[0]} but the video is {w}×{h}"
        )
    return rle


def _read_ground_truth(source, mask_api):
    data, label = _load_json(source, "ground-truth")
    try:
        videos = {}
        for v in data["videos"]:
            n = v.get("length")
            if n is None:
                n = len(v["file_names"])
            videos[int(v["id"])] = (int(v["height"]), int(v["width"]), int(n))
        categories = {int(c["id"]): str(c.get("name", c["id"])) for c in data["categories"]}
        anns = data["annotations"]
    except (KeyError, TypeError, ValueError) as e:
        raise ResultsFormatError(
            label, f"not a YouTube-VIS ground truth: needs videos, categories, annotations ({e})"
        ) from e
    tracks = []
    for i, ann in enumerate(anns):
        where = f"{label}: annotation #{i}"
        try:
            vid, cat = int(ann["video_id"]), int(ann["category_id"])
            segs = ann["segmentations"]
        except (KeyError, TypeError, ValueError) as e:
            raise ResultsFormatError(where, f"missing field {e}") from e
        if vid not in videos:
            raise ResultsFormatError(where, f"video_id {vid} is not among the videos")
        h, w, n = videos[vid]
        if len(segs) != n:
            raise ResultsFormatError(where, f"has {len(segs)} segmentations for {n} frames")
        rles = [_to_rle(s, h, w, where, mask_api) for s in segs]
        tracks.append(_Track(i, vid, cat, 0.0, rles, crowd=bool(ann.get("iscrowd", 0))))
    return videos, categories, tracks


def _read_results(source, videos, categories, mask_api):
    data, label = _load_json(source, "results")
    if not isinstance(data, list):
        raise ResultsFormatError(label, "results must be a JSON list of tracks")
    tracks = []
    dropped = 0
    for i, r in enumerate(data):
        where = f"{label}: result #{i}"
        try:
            vid, cat, score = int(r["video_id"]), int(r["category_id"]), float(r["score"])
            segs = r["segmentations"]
        except (KeyError, TypeError, ValueError) as e:
            raise ResultsFormatError(
                where, f"needs video_id, category_id, score, segmentations ({e})"
            ) from e
        if vid not in videos:
            raise ResultsFormatError(where, f"video_id {vid} is not in the ground truth")
        h, w, n = videos[vid]
        if len(segs) != n:
            raise ResultsFormatError(where, f"has {len(segs)} segmentations for {n} frames")
        if cat not in categories:
            dropped += 1
            continue
        tracks.append(_Track(i, vid, cat, score, [_to_rle(s, h, w, where, mask_api) for s in segs]))
    if dropped:
        log.warning(
            "%s: %d results of categories absent from the ground truth ignored", label, dropped
        )
    return tracks


def video_iou(
    dts: Sequence[Sequence[dict | None]], gts: Sequence[Sequence[dict | None]]
) -> np.ndarray:
    """Video IoU of every pair of tracks: float64 (D, G).

    Each track is a list of per-frame compressed RLEs (None for no mask), all of the same
    length and frame size.
    """
    mask_api = _mask_api()
    n_d, n_g = len(dts), len(gts)
    inter = np.zeros((n_d, n_g))
    union = np.zeros((n_d, n_g))
    if n_d == 0 or n_g == 0:
        return inter
    n_frames = len(gts[0])
    for t in range(n_frames):
        d_idx = [i for i in range(n_d) if dts[i][t] is not None]
        g_idx = [i for i in range(n_g) if gts[i][t] is not None]
        a_d = np.zeros(n_d)
        a_g = np.zeros(n_g)
        if d_idx:
            a_d[d_idx] = mask_api.area([dts[i][t] for i in d_idx])
        if g_idx:
            a_g[g_idx] = mask_api.area([gts[i][t] for i in g_idx])
        both = np.zeros((n_d, n_g))
        if d_idx and g_idx:
            o = np.asarray(
                mask_api.iou(
                    [dts[i][t] for i in d_idx], [gts[i][t] for i in g_idx], [0] * len(g_idx)
                ),
                dtype=np.float64,
            ).reshape(len(d_idx), len(g_idx))
            sums = a_d[d_idx][:, None] + a_g[g_idx][None, :]
            # |A ∩ B| from IoU = i / (|A| + |B| - i); exact after rounding (integer counts)
            both[np.ix_(d_idx, g_idx)] = np.round(o * sums / (1 + o))
        inter += both
        union += a_d[:, None] + a_g[None, :] - both
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _match(ious: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray):
    """COCO greedy matching → (dt matched (T, D), dt ignored (T, D))."""
    n_t = len(IOU_THRESHOLDS)
    n_d, n_g = ious.shape
    dt_matched = np.zeros((n_t, n_d), dtype=bool)
    dt_ignored = np.zeros((n_t, n_d), dtype=bool)
    if n_g == 0 or n_d == 0:
        return dt_matched, dt_ignored
    for t, thr in enumerate(IOU_THRESHOLDS):
        gt_taken = np.zeros(n_g, dtype=bool)
        for d in range(n_d):
            best = min(thr, 1 - 1e-10)
            m = -1
            for g in range(n_g):
                if gt_taken[g] and not crowd[g]:
                    continue
                if m > -1 and not gt_ignore[m] and gt_ignore[g]:
                    break
                if ious[d, g] < best:
                    continue
                best = ious[d, g]
                m = g
            if m == -1:
                continue
            dt_ignored[t, d] = gt_ignore[m]
            dt_matched[t, d] = True
            gt_taken[m] = True
    return dt_matched, dt_ignored


def evaluate_vis(ground_truth: str | Path | Mapping, results: str | Path | list) -> VISResult:
    """Evaluate YouTube-VIS results.

    Args:
        ground_truth: YouTube-VIS ground-truth JSON file, or its parsed content.
        results: results JSON file, or its parsed list.

    Raises:
        ResultsFormatError: unreadable or malformed JSON, a result for an unknown video,
            a track with the wrong number of frames or the wrong mask size.
    """
    mask_api = _mask_api()
    videos, categories, gt_tracks = _read_ground_truth(ground_truth, mask_api)
    dt_tracks = _read_results(results, videos, categories, mask_api)
    gts = defaultdict(list)
    dts = defaultdict(list)
    for tr in gt_tracks:
        gts[tr.video_id, tr.category_id].append(tr)
    for tr in dt_tracks:
        dts[tr.video_id, tr.category_id].append(tr)

    cat_ids = sorted(categories)
    vid_ids = sorted(videos)
    n_t, n_r, n_k, n_m = len(IOU_THRESHOLDS), len(RECALL_POINTS), len(cat_ids), len(MAX_DETS)
    precision = -np.ones((n_t, n_r, n_k, n_m))
    recall = -np.ones((n_t, n_k, n_m))
    for k, cat in enumerate(cat_ids):
        per_video = []
        for vid in vid_ids:
            g = gts.get((vid, cat), [])
            d = dts.get((vid, cat), [])
            if not g and not d:
                continue
            d = sorted(d, key=lambda tr: -tr.score)[: MAX_DETS[-1]]  # stable: file order
            g = sorted(g, key=lambda tr: tr.crowd)  # crowd (ignored) tracks last, stable
            ious = video_iou([tr.rles for tr in d], [tr.rles for tr in g])
            gt_ignore = np.array([tr.crowd for tr in g], dtype=bool)
            matched, ignored = _match(ious, gt_ignore, gt_ignore)
            per_video.append((np.array([tr.score for tr in d]), matched, ignored, gt_ignore))
        if not per_video:
            continue
        n_pos = int(sum(np.count_nonzero(~e[3]) for e in per_video))
        if n_pos == 0:
            continue
        for m, max_det in enumerate(MAX_DETS):
            scores = np.concatenate([e[0][:max_det] for e in per_video])
            order = np.argsort(-scores, kind="mergesort")
            matched = np.concatenate([e[1][:, :max_det] for e in per_video], axis=1)[:, order]
            ignored = np.concatenate([e[2][:, :max_det] for e in per_video], axis=1)[:, order]
            tps = np.cumsum(matched & ~ignored, axis=1).astype(np.float64)
            fps = np.cumsum(~matched & ~ignored, axis=1).astype(np.float64)
            for t in range(n_t):
                tp, fp = tps[t], fps[t]
                n_d = len(tp)
                rc = tp / n_pos
                pr = tp / (fp + tp + np.spacing(1))
                recall[t, k, m] = rc[-1] if n_d else 0
                q = np.zeros(n_r)
                if n_d:
                    pr = np.maximum.accumulate(pr[::-1])[::-1]
                    idx = np.searchsorted(rc, RECALL_POINTS, side="left")
                    ok = idx < n_d
                    q[ok] = pr[idx[ok]]
                precision[t, :, k, m] = q

    def mean_of(values: np.ndarray) -> float:
        v = values[values > -1]
        return float(np.mean(v)) if v.size else -1.0

    last = n_m - 1
    per_category = {cat: mean_of(precision[:, :, k, last]) for k, cat in enumerate(cat_ids)}
    return VISResult(
        ap=mean_of(precision[:, :, :, last]),
        ap50=mean_of(precision[0, :, :, last]),
        ap75=mean_of(precision[5, :, :, last]),
        ar1=mean_of(recall[:, :, MAX_DETS.index(1)]),
        ar10=mean_of(recall[:, :, MAX_DETS.index(10)]),
        per_category=per_category,
        category_names=categories,
    )
