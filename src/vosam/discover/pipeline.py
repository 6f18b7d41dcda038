"""Unsupervised VOS: discover objects, link them into box trajectories, segment them.

Two stages, usable apart:

1. :func:`discover_objects` (one pass over the video): motion saliency (optical flow minus
   camera motion) and an appearance cue on EfficientNet-Lite0 features (learned objectness,
   or the training-free boundary prior) choose pseudo-labels; a per-video foreground model
   learns from them and scores every frame (mixed with the objectness); the foreground's
   connected regions are proposals, linked into trajectories.
2. :func:`segment_trajectories` (UVOSAM): each trajectory's box prompts the promptable
   segmenter frame by frame (or, without one, the discovered foreground inside the box,
   snapped to the image's edges by a colour graph cut, is the mask). For temporal
   consistency (``propagate``) the most confident frames of each object become annotations
   of a :class:`vosam.Session`, the propagator segments every frame from them, and its
   masks fill the frames inside a trajectory where the object has no box (occlusions,
   missed detections), or, with ``propagate_all``, give every frame's mask
   (segment-then-propagate: the propagator's masks are consistent over time). External
   trajectories (any tracker's boxes) enter here directly.

Memory: stage 1 keeps every frame's stride-8 features in float16 (about 1.5 MB a frame at
the default 240-pixel short side) until the foreground model is fitted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vosam.discover.config import DiscoverConfig
from vosam.discover.foreground import ForegroundModel, pseudo_labels
from vosam.discover.linking import link_detections
from vosam.discover.motion import MotionSaliency
from vosam.discover.objectness import WEIGHTS, Objectness
from vosam.discover.proposals import grid_to_frame, propose
from vosam.discover.saliency import AppearanceFeatures
from vosam.discover.snap import SnapConfig, snap_mask
from vosam.discover.trajectories import Trajectory, clip_box
from vosam.engines import Propagator
from vosam.errors import InputError
from vosam.io import FrameSource
from vosam.ops.guided_filter import guided_upsample
from vosam.progress import Progress
from vosam.refine import Prompt, PromptableSegmenter

log = logging.getLogger(__name__)


@dataclass
class Discovery:
    """What :func:`discover_objects` found.

    Attributes:
        trajectories: the objects, ids 1.. in decreasing total score.
        foreground: per frame, float16 ``(h8, w8)`` foreground probability on the backbone's
            stride-8 grid.
        input_size: ``(h, w)`` of the backbone input the grid belongs to.
        size: ``(H, W)`` of the frames.
    """

    trajectories: list[Trajectory]
    foreground: list[np.ndarray]
    input_size: tuple[int, int]
    size: tuple[int, int]

    def foreground_at(self, index: int, guide: np.ndarray | None = None) -> np.ndarray:
        """Foreground probability of frame ``index`` at full resolution: float32 ``(H, W)``.

        With ``guide`` (the frame, ``uint8 (H, W, 3)``) the map is upsampled by a colour
        guided filter, so its edges follow the image's; otherwise bilinearly.
        """
        if guide is None:
            return grid_to_frame(self.foreground[index], self.input_size, self.size)
        low = grid_to_frame(self.foreground[index], self.input_size, self.input_size)
        return guided_upsample(guide, low[None], radius=8, eps=1e-3)[0]


def _to_grid(motion: np.ndarray, input_size: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Motion saliency at the flow's scale → the backbone's stride-8 grid ``(h8, w8)``."""
    h, w = input_size
    h8, w8 = grid
    m = cv2.resize(motion, (w, h), interpolation=cv2.INTER_LINEAR)
    m = cv2.copyMakeBorder(m, 0, h8 * 8 - h, 0, w8 * 8 - w, cv2.BORDER_REPLICATE)
    return cv2.resize(m, (w8, h8), interpolation=cv2.INTER_AREA)


def discover_objects(
    source: FrameSource,
    *,
    config: DiscoverConfig | None = None,
    appearance: AppearanceFeatures | None = None,
    device: str = "cpu",
    progress: Progress | None = None,
) -> Discovery:
    """Find the prominent moving objects of a video and their box trajectories.

    Args:
        source: the video.
        config: discovery settings.
        appearance: the backbone wrapper to use (built on ``device`` when omitted).
        device: torch device of a newly built backbone.
        progress: updated once per frame.
    """
    cfg = config or DiscoverConfig()
    appearance = appearance or AppearanceFeatures(device, cfg.feature_short_side)
    motion = MotionSaliency(cfg.flow_short_side, cfg.motion_pixels)
    n = len(source)
    feats, fused_maps = [], []
    input_size = appearance.extractor.input_size(source.size)
    frames = source.frames()
    window: list[np.ndarray] = []  # previous, current, next

    objectness = None
    if cfg.appearance == "objectness":
        objectness = Objectness.load(cfg.objectness_weights or WEIGHTS)
        if objectness.short_side != appearance.extractor.short_side:
            raise ValueError(
                f"objectness was trained on features at short side {objectness.short_side}, "
                f"discovery computes them at {appearance.extractor.short_side}"
            )
    weight = cfg.fused_motion_weight
    priors: list[np.ndarray] = []

    def analyse(prev: np.ndarray | None, cur: np.ndarray, nxt: np.ndarray | None) -> None:
        if objectness is None:
            dense, border = appearance(cur)
            cue = border.cpu().numpy()
        else:
            dense = appearance.dense(cur)
            cue = objectness(dense)
            priors.append(cue)
        grid = tuple(dense.shape[1:])
        mot = _to_grid(motion.saliency(cur, prev, nxt), input_size, grid)
        fused = weight * mot + (1 - weight) * cue
        feats.append(dense)
        fused_maps.append(fused.astype(np.float32))
        if progress is not None:
            progress.update()

    for _, image in frames:
        window.append(image)
        if len(window) == 2:
            analyse(None, window[0], window[1])
        elif len(window) == 3:
            analyse(window[0], window[1], window[2])
            window.pop(0)
    if len(window) == 1:
        analyse(None, window[0], None)
    elif window:
        analyse(window[-2], window[-1], None)
    if len(feats) != n:
        raise InputError(source.path, f"read {len(feats)} of {n} frames")
    result = discover_from_maps(
        feats,
        fused_maps,
        cfg,
        input_size,
        source.size,
        str(source.path),
        priors=priors or None,
    )
    log.info("%s: %d objects discovered", source.path, len(result.trajectories))
    return result


def discover_from_maps(
    feats: list[torch.Tensor],
    fused_maps: list[np.ndarray],
    cfg: DiscoverConfig,
    input_size: tuple[int, int],
    size: tuple[int, int],
    name: str = "video",
    *,
    priors: list[np.ndarray] | None = None,
) -> Discovery:
    """The second half of :func:`discover_objects`: from every frame's dense features
    ``(C, h8, w8)`` and fused saliency ``(h8, w8)``, fit the foreground model, score every
    frame, and link the proposals into trajectories. ``feats`` is emptied.

    With ``priors`` (every frame's objectness ``(h8, w8)``), the foreground is their mix
    with the model's scores (``cfg.prior_weight``)."""
    n = len(feats)
    # no cue strong enough anywhere in the video (no motion, weak appearance): its
    # strongest locations still become foreground pseudo-labels
    fused_maps = _lifted(fused_maps, cfg.label_peak, f"{name}: fused cue")
    labels = [
        pseudo_labels(f, fg_threshold=cfg.fg_threshold, bg_threshold=cfg.bg_threshold)
        for f in fused_maps
    ]

    model = ForegroundModel.fit(feats, labels, seed=0)
    if model is None:
        log.info("%s: too few confident pixels for a foreground model; saliency used", name)
        foreground = fused_maps
    else:
        foreground = [model(f) for f in feats]
        if priors is not None:
            w = cfg.prior_weight
            foreground = [(1 - w) * f + w * p for f, p in zip(foreground, priors, strict=True)]
    # unsure everywhere (weak motion, or no model) would find nothing: the video's most
    # confident pixels reach the proposal threshold
    foreground = _lifted(foreground, cfg.threshold, f"{name}: foreground")
    foreground = [f.astype(np.float16) for f in foreground]
    feats.clear()
    result = Discovery([], foreground, input_size, size)
    detections = [
        propose(
            result.foreground_at(i),
            threshold=cfg.threshold,
            low_threshold=cfg.low_threshold,
            min_area=cfg.min_area,
            merge_radius=cfg.merge_radius,
        )
        for i in range(n)
    ]
    result.trajectories = link_detections(
        detections,
        link_iou=cfg.link_iou,
        max_gap=cfg.max_gap,
        min_length=cfg.min_length,
        max_objects=cfg.max_objects,
    )
    return result


def _lifted(maps: list[np.ndarray], level: float, what: str) -> list[np.ndarray]:
    """``maps`` scaled (and clipped to 1) so that their 99.9th percentile, over the whole
    video, is ``level`` when it is lower; unchanged otherwise (or when it is 0)."""
    peak = float(np.percentile(np.stack(maps), 99.9))
    if not 0 < peak < level:
        return maps
    log.info("%s peaks at %.2f; scaled to %.2f", what, peak, level)
    return [np.minimum(m * (level / peak), 1.0) for m in maps]


def _pad_box(box: np.ndarray, size: tuple[int, int], frac: float = 0.05) -> np.ndarray:
    w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
    pad = np.array([-w, -h, w, h], np.float32) * frac
    return clip_box(box + pad, size)


def frame_masks(
    image: np.ndarray,
    index: int,
    trajectories: Sequence[Trajectory],
    *,
    segmenter: PromptableSegmenter | None = None,
    discovery: Discovery | None = None,
    threshold: float = 0.7,
    snap: SnapConfig | None = None,
) -> tuple[np.ndarray, dict[int, float]]:
    """One frame's mask from the boxes of ``trajectories`` on it.

    With a segmenter each box prompts it; without, the discovered foreground inside the
    (slightly enlarged) box, above ``threshold``, is the mask, snapped to the image's edges
    with ``snap`` (see :mod:`vosam.discover.snap`; None keeps the coarse mask).
    Where objects overlap the one with the higher score wins.

    Returns:
        ``uint8 (H, W)`` ids, and the score of each object present (segmenter's predicted
        quality × box score, or mean foreground probability × box score).
    """
    size = image.shape[:2]
    present = []
    for traj in trajectories:
        entry = traj.boxes.get(index)
        if entry is None:
            continue
        box = clip_box(entry[0], size)
        if box is not None:
            present.append((traj.object_id, box, entry[1]))
    mask = np.zeros(size, np.uint8)
    scores: dict[int, float] = {}
    if not present:
        return mask, scores
    if segmenter is not None:
        embedding = segmenter.embed(image)
    else:
        if discovery is None:
            raise ValueError("without a segmenter the discovered foreground is needed")
        prob = discovery.foreground_at(index, image)
    painted = []
    for oid, box, box_score in present:
        if segmenter is not None:
            pred = segmenter.predict(embedding, Prompt(box=box))
            obj, quality = pred.mask.astype(bool), float(pred.score)
        else:
            x0, y0, x1, y1 = np.round(_pad_box(box, size)).astype(int)
            obj = np.zeros(size, bool)
            obj[y0 : y1 + 1, x0 : x1 + 1] = prob[y0 : y1 + 1, x0 : x1 + 1] > threshold
            if snap is not None:
                obj = snap_mask(image, obj, prob, snap)
            quality = float(prob[obj].mean()) if obj.any() else 0.0
        if obj.any():
            painted.append((quality * box_score, oid, obj))
    for score, oid, obj in sorted(painted, key=lambda p: p[0]):
        mask[obj] = oid
        scores[oid] = score
    return mask, scores


def choose_keyframes(scores: Sequence[dict[int, float]], per_object: int) -> list[int]:
    """Frames whose masks become annotations: for every object, its frames are split into
    ``per_object`` equal runs and the best-scoring frame of each run is chosen.

    Args:
        scores: per frame, object id → score (objects absent from a frame are missing).
    """
    by_object: dict[int, list[tuple[int, float]]] = {}
    for index, frame_scores in enumerate(scores):
        for oid, s in frame_scores.items():
            by_object.setdefault(oid, []).append((index, s))
    chosen: set[int] = set()
    for entries in by_object.values():
        for run in np.array_split(np.arange(len(entries)), min(per_object, len(entries))):
            if len(run):
                best = max(run, key=lambda k: entries[k][1])
                chosen.add(entries[best][0])
    return sorted(chosen)


def segment_trajectories(
    source: FrameSource,
    trajectories: Sequence[Trajectory],
    *,
    segmenter: PromptableSegmenter | None = None,
    propagator: Propagator | None = None,
    discovery: Discovery | None = None,
    config: DiscoverConfig | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Masks of every frame from box trajectories (UVOSAM), yielded in frame order as
    ``(index, uint8 (H, W) ids)``.

    Args:
        source: the video.
        trajectories: the objects' boxes (discovered, or from any tracker).
        segmenter: prompted with each box; None uses ``discovery``'s foreground.
        propagator: with ``config.propagate``, segments every frame from the keyframes'
            masks, filling the frames where an object has no box (with
            ``config.propagate_all``, giving every frame's mask); the embedded engine is
            built when omitted.
        discovery: the discovered foreground (needed without a segmenter).
        config: ``keyframes``, ``propagate``, ``propagate_all``, ``threshold`` and ``snap``
            are used.
        progress: updated once per frame of each pass.
    """
    cfg = config or DiscoverConfig()
    if segmenter is None and discovery is None:
        raise ValueError("segment_trajectories needs a segmenter or the discovered foreground")
    if not (cfg.propagate or cfg.propagate_all) or cfg.keyframes == 0:
        for index, image in source.frames():
            mask, _ = frame_masks(
                image,
                index,
                trajectories,
                segmenter=segmenter,
                discovery=discovery,
                threshold=cfg.threshold,
                snap=cfg.snap,
            )
            if progress is not None:
                progress.update()
            yield index, mask
        return
    encoded: list[bytes] = []
    scores: list[dict[int, float]] = []
    for index, image in source.frames():
        mask, frame_scores = frame_masks(
            image,
            index,
            trajectories,
            segmenter=segmenter,
            discovery=discovery,
            threshold=cfg.threshold,
            snap=cfg.snap,
        )
        encoded.append(cv2.imencode(".png", mask)[1].tobytes())
        scores.append(frame_scores)
        if progress is not None:
            progress.update()
    keyframes = choose_keyframes(scores, cfg.keyframes)
    if not keyframes:
        for index, blob in enumerate(encoded):
            if progress is not None:
                progress.update()
            yield index, _decode(blob)
        return
    from vosam.session import Session, SessionConfig  # imports the engines: keep it lazy

    # propagating everywhere: permanent memory may find an object before its first keyframe
    session_config = SessionConfig(objects_from_first_annotation=not cfg.propagate_all)
    session = Session(source, propagator=propagator, config=session_config)
    for index in keyframes:
        session.add_annotation(index, _decode(encoded[index]))
    log.debug("%s: keyframes %s", source.path, keyframes)
    spans = {t.object_id: (min(t.boxes), max(t.boxes)) for t in trajectories if t.boxes}
    for index, result in session.propagate():
        if progress is not None:
            progress.update()
        if cfg.propagate_all:
            yield index, result.mask
        else:
            prompted = _decode(encoded[index])
            yield index, _fill_gaps(prompted, result.mask, index, scores[index], spans)


def _fill_gaps(
    prompted: np.ndarray,
    propagated: np.ndarray,
    index: int,
    present: dict[int, float],
    spans: dict[int, tuple[int, int]],
) -> np.ndarray:
    """Prompted masks where the object has a box; the propagated mask for objects without a
    box on frame ``index`` inside their trajectory's span (occluded or missed frames), on
    pixels no prompted object holds."""
    out = prompted.copy()
    free = prompted == 0
    for oid, (first, last) in spans.items():
        if oid not in present and first <= index <= last:
            fill = free & (propagated == oid)
            out[fill] = oid
    return out


def _decode(blob: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
