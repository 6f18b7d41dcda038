"""Unsupervised VOS, second stage: masks of every frame from box trajectories (UVOSAM).

Each trajectory's box prompts the promptable segmenter frame by frame (or, without one, the
discovered foreground inside the box, snapped to the image's edges by a colour graph cut, is
the mask). For temporal consistency (``propagate``) the most confident frames of each object
become annotations of a :class:`vosam.Session`, the propagator segments every frame from
them, and its masks fill the frames inside a trajectory where the object has no box
(occlusions, missed detections), or, with ``propagate_all``, give every frame's mask
(segment-then-propagate: the propagator's masks are consistent over time). Trajectories of
any tracker enter here as well as discovered ones (:mod:`vosam.discover.pipeline`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vosam.discover.config import DiscoverConfig
from vosam.discover.snap import SnapConfig, snap_mask
from vosam.discover.trajectories import Trajectory, clip_box
from vosam.io import FrameSource
from vosam.progress import Progress
from vosam.refine import Prompt, PromptableSegmenter

if TYPE_CHECKING:
    from vosam.discover.pipeline import Discovery
    from vosam.engines import Propagator

log = logging.getLogger(__name__)


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

    def masks_of(image: np.ndarray, index: int) -> tuple[np.ndarray, dict[int, float]]:
        return frame_masks(
            image,
            index,
            trajectories,
            segmenter=segmenter,
            discovery=discovery,
            threshold=cfg.threshold,
            snap=cfg.snap,
        )

    if not (cfg.propagate or cfg.propagate_all) or cfg.keyframes == 0:
        for index, image in source.frames():
            mask, _ = masks_of(image, index)
            if progress is not None:
                progress.update()
            yield index, mask
        return
    encoded: list[bytes] = []
    scores: list[dict[int, float]] = []
    for index, image in source.frames():
        mask, frame_scores = masks_of(image, index)
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
