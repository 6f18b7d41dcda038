"""Scoring one sequence under a protocol.

Protocols (frames are the ground-truth frames, in natural order of their names):

- ``semi-supervised`` (DAVIS): objects are the ids of the first annotated frame; the first
  and the last annotated frame are not scored; every other annotated frame is. Frames
  without a ground-truth mask are never scored (sparse annotations).
- ``long-video`` (Long-time Video dataset): the same rule, on its sparse annotations.
- ``unsupervised`` (DAVIS): every annotated frame is scored; predicted ids 1..20 are
  proposals matched one-to-one to the ground-truth objects with the Hungarian algorithm on
  mean (J + F) / 2.
- ``lvos``: every id of the ground truth is an object, starting at its own first appearance
  (or the range given by the LVOS metadata); the first and the last frame of each object's
  range are not scored.

A predicted id that no ground-truth frame of the sequence holds, and a missing predicted
mask for a frame that is scored, are errors. (Under ``semi-supervised``, ids annotated only
after the first frame may be predicted but are not scored; a warning says so.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vosam.errors import MaskSizeError
from vosam.eval.errors import MissingPredictionError, UnknownObjectError
from vosam.eval.metrics import VOID_LABEL, score_frame
from vosam.eval.pngmask import natural_key
from vosam.eval.results import ObjectResult, SequenceResult

__all__ = [
    "MAX_PROPOSALS",
    "PROTOCOLS",
    "FrameRange",
    "MaskReader",
    "evaluate_sequence",
    "score_sequence",
]

log = logging.getLogger(__name__)

PROTOCOLS: tuple[str, ...] = ("semi-supervised", "unsupervised", "long-video", "lvos")
MAX_PROPOSALS = 20


@dataclass(frozen=True)
class FrameRange:
    """Frames an object is evaluated on: from ``first`` (its reference annotation, not
    scored) to ``last`` (not scored either), both ground-truth frame names."""

    first: str
    last: str


class MaskReader:
    """Masks of one sequence by frame name, with a description of each for messages.

    Subclasses read files; this base class serves masks held in memory.
    """

    def __init__(self, masks: Mapping[str, np.ndarray], label: str) -> None:
        self._masks = masks
        self._label = label

    def where(self, frame: str) -> str:
        """How a frame's mask is named in error messages."""
        return f"{self._label}/{frame}"

    def has(self, frame: str) -> bool:
        return frame in self._masks

    def read(self, frame: str) -> np.ndarray:
        """uint8 (H, W) ids of ``frame``; raises :class:`MissingPredictionError` if absent."""
        try:
            mask = self._masks[frame]
        except KeyError:
            raise MissingPredictionError(self.where(frame), "no predicted mask") from None
        return _as_ids(mask, self.where(frame))


def _as_ids(mask: np.ndarray, where: str) -> np.ndarray:
    a = np.asarray(mask)
    if a.ndim != 2:
        raise UnknownObjectError(where, f"a mask must be 2-D (H, W), got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.view(np.uint8)
    if np.issubdtype(a.dtype, np.integer) and (a.size == 0 or (a.min() >= 0 and a.max() <= 255)):
        return a.astype(np.uint8)
    raise UnknownObjectError(where, f"mask must hold integer ids 0..255, got {a.dtype}")


def _ids_in(mask: np.ndarray) -> list[int]:
    """Ids present in a uint8 mask, 0 and void excluded."""
    counts = np.bincount(mask.ravel(), minlength=256)
    return [int(i) for i in np.flatnonzero(counts) if 0 < i < VOID_LABEL]


def _extra_ids(pred: np.ndarray, allowed: frozenset[int]) -> list[int]:
    """Ids in ``pred`` outside ``allowed`` (0 is always allowed); fast when there are none."""
    top = int(pred.max())
    if top == 0:
        return []
    if top <= max(allowed, default=0) and all(i in allowed for i in range(1, top + 1)):
        return []
    return [int(i) for i in np.flatnonzero(np.bincount(pred.ravel())) if i and i not in allowed]


def _raise_unknown(where: str, object_id: int, known: set[int]) -> None:
    objs = ", ".join(str(i) for i in sorted(known)) or "none"
    raise UnknownObjectError(
        where, f"object id {object_id} is not a ground-truth object (objects: {objs})"
    )


def _check_later_objects(
    name: str, frames: list[str], gt: MaskReader, extra: dict[int, str], objects: list[int]
) -> None:
    """Predicted ids that are not first-frame objects must at least be annotated later on."""
    later: set[int] = set()
    for frame in frames[1:]:
        later.update(_ids_in(gt.read(frame)))
    for k, where in sorted(extra.items()):
        if k not in later:
            _raise_unknown(where, k, set(objects) | later)
    log.warning(
        "%s: object(s) %s first annotated after the first frame are not scored by this "
        "protocol; the lvos protocol scores each object from its first appearance",
        name,
        ", ".join(str(k) for k in sorted(extra)),
    )


def _check_size(gt: np.ndarray, pred: np.ndarray, where: str) -> None:
    if gt.shape != pred.shape:
        raise MaskSizeError(
            where,
            f"mask is {pred.shape[1]}×{pred.shape[0]} but the ground truth is "
            f"{gt.shape[1]}×{gt.shape[0]}",
        )


def score_sequence(
    name: str,
    frames: Sequence[str],
    gt: MaskReader,
    pred: MaskReader,
    *,
    protocol: str = "semi-supervised",
    ranges: Mapping[int, FrameRange] | None = None,
    max_proposals: int = MAX_PROPOSALS,
    category: str | None = None,
) -> SequenceResult:
    """Score one sequence whose ground-truth frames are ``frames`` (in order).

    Args:
        name: the sequence's name, used in results.
        frames: ground-truth frame names, in temporal order.
        gt: ground-truth masks, uint8 (H, W), 255 void.
        pred: predicted masks, uint8 (H, W).
        protocol: one of :data:`PROTOCOLS`.
        ranges: ``lvos`` only: object id → its frame range; default: from its first
            appearance to the last annotated frame.
        max_proposals: ``unsupervised`` only: highest predicted id allowed.
        category: stored in the result (LVOS seen/unseen).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    frames = list(frames)
    if not frames:
        return SequenceResult(name, protocol, (), category)
    if protocol == "unsupervised":
        objects = _unsupervised(name, frames, gt, pred, max_proposals)
    elif protocol == "lvos":
        objects = _per_object(name, frames, gt, pred, ranges)
    else:
        objects = _semi_supervised(name, frames, gt, pred)
    return SequenceResult(name, protocol, tuple(objects), category)


def _first_frame_objects(frames: Sequence[str], gt: MaskReader) -> list[int]:
    return _ids_in(gt.read(frames[0]))


def _semi_supervised(
    name: str, frames: list[str], gt: MaskReader, pred: MaskReader
) -> list[ObjectResult]:
    objects = _first_frame_objects(frames, gt)
    allowed = frozenset(objects)
    extra: dict[int, str] = {}  # predicted ids that are not objects → first file holding them
    scored = frames[1:-1]
    j = np.empty((len(objects), len(scored)))
    f = np.empty((len(objects), len(scored)))
    for t, frame in enumerate(scored):
        g = gt.read(frame)
        p = pred.read(frame)
        where = pred.where(frame)
        _check_size(g, p, where)
        for k in _extra_ids(p, allowed):
            extra.setdefault(k, where)
        j[:, t], f[:, t] = score_frame(g, p, objects)
    if extra:
        _check_later_objects(name, frames, gt, extra, objects)
    return [
        ObjectResult.from_scores(name, k, scored, j[n], f[n], reference_frame=frames[0])
        for n, k in enumerate(objects)
    ]


def _unsupervised(
    name: str, frames: list[str], gt: MaskReader, pred: MaskReader, max_proposals: int
) -> list[ObjectResult]:
    objects = _first_frame_objects(frames, gt)
    proposals = list(range(1, max_proposals + 1))
    j = np.empty((max_proposals, len(objects), len(frames)))
    f = np.empty((max_proposals, len(objects), len(frames)))
    top = 0
    for t, frame in enumerate(frames):
        g = gt.read(frame)
        p = pred.read(frame)
        where = pred.where(frame)
        _check_size(g, p, where)
        mx = int(p.max())
        if mx > max_proposals:
            raise UnknownObjectError(
                where,
                f"object id {mx} is above the {max_proposals} proposals that the "
                "unsupervised protocol scores",
            )
        top = max(top, mx)
        j[:, :, t], f[:, :, t] = score_frame(g, p, objects, proposal_ids=proposals)
    if not objects:
        return []
    from scipy.optimize import linear_sum_assignment

    # like the DAVIS reference: proposals 1..max id seen, padded with empty ones up to K
    used = max(top, len(objects))
    j, f = j[:used], f[:used]
    score = (np.mean(j, axis=2) + np.mean(f, axis=2)) / 2
    rows, cols = linear_sum_assignment(-score)
    match = dict(zip(cols.tolist(), rows.tolist(), strict=True))
    return [
        ObjectResult.from_scores(
            name,
            k,
            frames,
            j[match[n], n],
            f[match[n], n],
            matched_id=match[n] + 1,
            reference_frame=None,
        )
        for n, k in enumerate(objects)
    ]


def _per_object(
    name: str,
    frames: list[str],
    gt: MaskReader,
    pred: MaskReader,
    ranges: Mapping[int, FrameRange] | None,
) -> list[ObjectResult]:
    index = {fr: i for i, fr in enumerate(frames)}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    if ranges is not None:
        for k, r in ranges.items():
            first[int(k)], last[int(k)] = index[r.first], index[r.last]
    scores: dict[int, list[tuple[str, float, float]]] = {}
    pred_ids: dict[int, str] = {}
    gt_ids: set[int] = set()
    for t, frame in enumerate(frames):
        g = gt.read(frame)
        present = _ids_in(g)
        gt_ids.update(present)
        if ranges is None:
            for k in present:
                if k not in first:
                    first[k], last[k] = t, len(frames) - 1
        active = sorted(k for k in first if first[k] < t < last[k])
        if not active:
            continue
        p = pred.read(frame)
        where = pred.where(frame)
        _check_size(g, p, where)
        for k in _ids_in(p):
            pred_ids.setdefault(k, where)
        j, f = score_frame(g, p, active)
        for n, k in enumerate(active):
            scores.setdefault(k, []).append((frame, float(j[n]), float(f[n])))
    known = gt_ids | set(first)
    for k, where in sorted(pred_ids.items()):
        if k not in known:
            _raise_unknown(where, k, known)
    results = []
    for k in sorted(first):
        rows = scores.get(k, [])
        results.append(
            ObjectResult.from_scores(
                name,
                k,
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                reference_frame=frames[first[k]],
            )
        )
    return results


def evaluate_sequence(
    gt: Mapping[str, np.ndarray],
    pred: Mapping[str, np.ndarray],
    *,
    protocol: str = "semi-supervised",
    name: str = "sequence",
    ranges: Mapping[int, FrameRange] | None = None,
    max_proposals: int = MAX_PROPOSALS,
) -> SequenceResult:
    """Evaluate one sequence held in memory.

    Args:
        gt: frame name → uint8 (H, W) ground-truth ids (0 background, 255 void). Only the
            frames present are annotated; they are ordered by natural order of their names.
        pred: frame name → uint8 (H, W) predicted ids. Must hold every scored frame;
            other frames are ignored.
        protocol: ``semi-supervised``, ``unsupervised``, ``long-video`` or ``lvos``.
        name: the sequence's name in the result and in error messages.
        ranges: ``lvos`` only: object id → :class:`FrameRange` (default: from the object's
            first appearance to the last annotated frame).
        max_proposals: ``unsupervised`` only: highest predicted id allowed.

    Returns:
        The per-object results.

    Raises:
        MissingPredictionError: a scored frame has no prediction.
        UnknownObjectError: a prediction holds an id that is not a ground-truth object.
        MaskSizeError: a prediction's size differs from the ground truth's.
    """
    frames = sorted(gt, key=natural_key)
    return score_sequence(
        name,
        frames,
        MaskReader(gt, f"{name} (ground truth)"),
        MaskReader(pred, name),
        protocol=protocol,
        ranges=ranges,
        max_proposals=max_proposals,
    )
