"""Unsupervised VOS, first stage: discover objects and link them into box trajectories.

:func:`discover_objects` makes one pass over the video: motion saliency (optical flow minus
camera motion) and an appearance cue on EfficientNet-Lite0 features (learned objectness, or
the training-free boundary prior) choose pseudo-labels; a per-video foreground model learns
from them and scores every frame (mixed with the objectness); the foreground's connected
regions are proposals, linked into trajectories. The second stage, masks from the
trajectories, is :mod:`vosam.discover.segment`.

Memory: discovery keeps every frame's stride-8 features in float16 (about 1.5 MB a frame at
the default 240-pixel short side) until the foreground model is fitted.
"""

from __future__ import annotations

import logging
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
from vosam.discover.trajectories import Trajectory
from vosam.errors import InputError
from vosam.io import FrameSource
from vosam.ops.guided_filter import guided_upsample
from vosam.progress import Progress

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
