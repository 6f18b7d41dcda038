"""Refinement of propagated masks by a promptable segmenter (VOS-E-SAM, and beyond).

For one frame, :meth:`Refiner.refine` takes the propagator's :class:`StepResult`
(probabilities ``(N + 1, H, W)`` and confidences), chooses which objects to refine (every
object, as VOS-E-SAM does, or only those whose mask is vanishing or degrading), builds their
prompts with a prompt strategy, asks the segmenter, keeps a refined mask only when its
predicted quality passes the gate, and paints the objects in increasing score order so that
overlaps go to the higher score. An object whose mask has vanished is looked for again in the
propagator's own low-probability map, and the segmenter is prompted there.

The refiner holds only the segmenter and its settings; the per-video history is a
:class:`RefineState` made by :meth:`Refiner.new_state` and owned by the caller (the session),
which also feeds accepted masks back to the tracker (:attr:`RefinerConfig.feedback`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from vosam.refine.base import PromptableSegmenter
from vosam.refine.prompts import MIN_COMPONENT_AREA, MODES, POINT_CONVERSIONS, build_prompts
from vosam.refine.vanishing import (
    ObjectHistory,
    VanishingConfig,
    count_fragments,
    degradation,
)
from vosam.spec import DEFAULT_GATES, REFINE_WHEN, SAM_GATE, default_gate
from vosam.types import StepResult, confidence_of, onehot

__all__ = [
    "DEFAULT_GATES",
    "REFINE_WHEN",
    "SAM_GATE",
    "RefineResult",
    "RefineState",
    "Refiner",
    "RefinerConfig",
    "compose",
    "default_gate",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefinerConfig:
    """How propagated masks are refined.

    Attributes:
        mode: prompt mode, a key of :data:`vosam.refine.prompts.MODES`.
        points: point conversion, ``C``, ``CP`` or ``CPS``.
        gate: keep a refined mask only when its predicted quality is at least this; 0
            keeps every refined mask; None: the segmenter's default (:func:`default_gate`:
            VOS-E-SAM's "optimized" 0.94 for SAM, HQ-SAM and SAM 2).
        refine: ``"every"`` frame and object (VOS-E-SAM; the default: on davis2016-train
            it raised J&F and cut the J/F decay more than ``"vanishing"`` did, at about three
            times the time per frame) or only ``"vanishing"``/degrading ones (cheaper).
        feedback: write frames with an accepted refined mask back into the tracker's memory.
        refind: look for a vanished object in the propagator's low probabilities.
        refind_threshold: probability above which a vanished object is looked for.
        refind_frames: how many frames after its last good mask an object is looked for.
        box_margin: pixels added around prompt boxes.
        min_area: smallest component that gives prompt points.
        vanishing: when a mask counts as vanishing or degrading.
    """

    mode: str = "mask_bbox_pos_neg"
    points: str = "CP"
    gate: float | None = None
    refine: str = "every"
    feedback: bool = True
    refind: bool = True
    refind_threshold: float = 0.2
    refind_frames: int = 50
    box_margin: int = 0
    min_area: int = MIN_COMPONENT_AREA
    vanishing: VanishingConfig = field(default_factory=VanishingConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown prompt mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.points not in POINT_CONVERSIONS:
            raise ValueError(f"unknown point conversion {self.points!r}; choose C, CP or CPS")
        if self.refine not in REFINE_WHEN:
            raise ValueError(f"refine must be one of {REFINE_WHEN}, got {self.refine!r}")
        if self.gate is not None and not 0.0 <= self.gate <= 1.0:
            raise ValueError(f"the gate is a quality in [0, 1], got {self.gate}")


@dataclass
class RefineState:
    """Per-video refinement state, owned by the session.

    Attributes:
        objects: object id → its recent history.
        frames_refined: frames on which the segmenter ran.
        masks_accepted: refined masks that passed the gate.
    """

    objects: dict[int, ObjectHistory] = field(default_factory=dict)
    frames_refined: int = 0
    masks_accepted: int = 0


@dataclass(frozen=True)
class RefineResult:
    """The outcome of refining one frame.

    Attributes:
        result: the frame's result after refinement (unchanged when nothing was accepted).
        refined: objects sent to the segmenter, with the reason (``"every"``, ``"area"``,
            ``"confidence"``, ``"fragments"``, ``"vanished"``).
        scores: predicted quality of each refined object's mask.
        accepted: objects whose refined mask passed the gate.
    """

    result: StepResult
    refined: dict[int, str]
    scores: dict[int, float]
    accepted: tuple[int, ...]


class Refiner:
    """A promptable segmenter plus the refinement settings; holds no per-video state.

    Args:
        segmenter: any :class:`~vosam.refine.base.PromptableSegmenter`.
        config: settings (defaults: ``mask_bbox_pos_neg``, ``CP``, the segmenter's gate,
            every frame, feedback).
    """

    def __init__(self, segmenter: PromptableSegmenter, config: RefinerConfig | None = None):
        self.segmenter = segmenter
        self.config = config or RefinerConfig()

    @property
    def gate(self) -> float:
        """The quality a refined mask needs to be kept."""
        if self.config.gate is not None:
            return self.config.gate
        return default_gate(self.segmenter.name)

    def new_state(self) -> RefineState:
        """Fresh per-video state."""
        return RefineState()

    def observe(self, state: RefineState, index: int, result: StepResult) -> None:
        """Record a frame that is not refined (an annotated frame) in the history."""
        mask = result.mask
        for k, oid in enumerate(result.object_ids):
            self._record(state, index, oid, mask == oid, float(result.confidence[k]))

    def refine(
        self, state: RefineState, index: int, image: np.ndarray, result: StepResult
    ) -> RefineResult:
        """Refine frame ``index``.

        Args:
            state: this video's :class:`RefineState` (updated).
            image: ``uint8 (H, W, 3)`` RGB.
            result: the propagator's result for the frame.
        """
        cfg = self.config
        mask = result.mask
        ids = result.object_ids
        masks = {oid: mask == oid for oid in ids}
        probs = {oid: result.probs[k + 1] for k, oid in enumerate(ids)}
        conf = {oid: float(result.confidence[k]) for k, oid in enumerate(ids)}
        targets: dict[int, str] = {}
        for oid in ids:
            hist = state.objects.get(oid)
            area = int(masks[oid].sum())
            frags = count_fragments(masks[oid], cfg.vanishing.min_area)
            reason = degradation(hist, area, conf[oid], frags, cfg.vanishing) if hist else None
            if reason == "vanished" or (area < cfg.vanishing.min_area and hist is not None):
                region = self._refind(hist, index, probs[oid]) if cfg.refind else None
                if region is not None:
                    masks[oid], probs[oid] = region, region.astype(np.float32)
                    targets[oid] = "vanished"
            elif cfg.refine == "every" and area >= cfg.vanishing.min_area:
                targets[oid] = "every"
            elif reason is not None:
                targets[oid] = reason
        refined_masks: dict[int, np.ndarray] = {}
        scores: dict[int, float] = {}
        if targets:
            prompts = build_prompts(
                probs,
                masks,
                mode=cfg.mode,
                points=cfg.points,
                box_margin=cfg.box_margin,
                min_area=cfg.min_area,
            )
            prompts = {oid: p for oid, p in prompts.items() if oid in targets}
            if prompts:
                embedding = self.segmenter.embed(image)
                state.frames_refined += 1
                for oid, prompt in prompts.items():
                    pred = self.segmenter.predict(embedding, prompt)
                    scores[oid] = pred.score
                    if pred.score >= self.gate and pred.mask.any():
                        refined_masks[oid] = pred.mask
        accepted = tuple(sorted(refined_masks))
        state.masks_accepted += len(accepted)
        out = result
        if accepted:
            out = compose(result, refined_masks, scores)
        final = out.mask
        for k, oid in enumerate(ids):
            self._record(state, index, oid, final == oid, float(out.confidence[k]))
        if targets:
            log.debug("frame %d: refined %s, accepted %s", index, targets, accepted)
        return RefineResult(out, targets, scores, accepted)

    def _refind(self, hist: ObjectHistory, index: int, prob: np.ndarray) -> np.ndarray | None:
        """Where a vanished object may be: the low-probability component with the most mass."""
        cfg = self.config
        if hist.last_index is None or abs(index - hist.last_index) > cfg.refind_frames:
            return None
        labels, n = ndimage.label(prob >= cfg.refind_threshold, structure=np.ones((3, 3), bool))
        if n == 0:
            return None
        mass = ndimage.sum(prob, labels, index=np.arange(1, n + 1))
        best = int(np.argmax(mass)) + 1
        region = labels == best
        return region if region.sum() >= cfg.min_area else None

    def _record(
        self,
        state: RefineState,
        index: int,
        oid: int,
        obj_mask: np.ndarray,
        confidence: float,
    ) -> None:
        vcfg = self.config.vanishing
        hist = state.objects.setdefault(oid, ObjectHistory())
        area = int(obj_mask.sum())
        if area < vcfg.min_area and hist.areas:
            return  # a vanished mask is not a reference: keep the last good one
        hist.push(area, confidence, count_fragments(obj_mask, vcfg.min_area), vcfg.history)
        if area >= vcfg.min_area:
            hist.last_mask, hist.last_index = obj_mask, index


def compose(
    result: StepResult, refined: dict[int, np.ndarray], scores: dict[int, float]
) -> StepResult:
    """Replace objects' masks by refined ones, resolving overlaps by score.

    Every object is painted in increasing score order (refined objects with their predicted
    quality, the others with their propagation confidence), so a pixel claimed by several
    goes to the highest score. Pixels whose label changes get one-hot probabilities; the
    others keep the propagator's.

    Args:
        result: the propagated frame.
        refined: object id → bool ``(H, W)`` accepted refined mask.
        scores: object id → predicted quality.
    Returns:
        the refined :class:`StepResult`.
    """
    ids = result.object_ids
    old = result.mask
    rank = {
        oid: scores[oid] if oid in refined else float(result.confidence[k])
        for k, oid in enumerate(ids)
    }
    final = np.zeros_like(old)
    for oid in sorted(ids, key=lambda o: (rank[o], o)):
        final[refined.get(oid, old == oid)] = oid
    changed = final != old
    probs = np.where(changed[None], onehot(final, ids), result.probs).astype(np.float32)
    return StepResult(probs, ids, confidence_of(probs))
