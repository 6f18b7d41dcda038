"""Typed configuration of object discovery (unsupervised VOS)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vosam.discover.snap import SnapConfig


@dataclass(frozen=True)
class DiscoverConfig:
    """Knobs of :func:`vosam.discover.discover`.

    Attributes:
        max_objects: at most this many objects (trajectories) are kept, best first.
        feature_short_side: frames are resized so their shorter side has this many pixels
            before the EfficientNet-Lite0 backbone (features at stride 8 of that size).
        flow_short_side: optical flow is computed on grey frames scaled to this shorter side.
        motion_pixels: residual motion (after removing the camera's global motion), in pixels
            of the ``flow_short_side`` frame, at which the motion saliency of a clean frame
            reaches 0.5 (see :mod:`vosam.discover.motion`).
        appearance: the appearance cue: ``"objectness"``, the learned objectness of
            :mod:`vosam.discover.objectness` (default), or ``"border"``, the training-free
            border-contrast saliency of :mod:`vosam.discover.saliency`. On the 20 DAVIS-2016
            train sequences, with priors that had not seen the sequence they scored,
            objectness raised J&F from 0.481 to 0.639 (see the README's figures).
        objectness_weights: objectness weights file (None: the shipped ones).
        motion_weight: weight of motion against the appearance cue when the pseudo-labels
            of the per-video foreground model are chosen (0 = appearance only); None takes
            0.5 with objectness and 0.8 with border contrast (the best of each on DAVIS-2016
            train: objectness is a cue as strong as motion, border contrast a weak one).
        label_peak: a video whose fused cue never reaches this (its 99.9th percentile is
            lower: no motion, a camera that follows the object) has its fused maps scaled
            so that it does, so the foreground model still gets pseudo-labels.
        prior_weight: with objectness, the foreground is this mix of the objectness and
            (1 − it) of the per-video model (the model alone follows one video's look, the
            prior alone every object's: on DAVIS-2016 train held out, stride-8 J 0.57
            for the model alone, 0.61 for the even mix).
        fg_threshold: a location is a foreground pseudo-label when its fused saliency is
            above this; ``bg_threshold``: a background one when below.
        bg_threshold: see ``fg_threshold``.
        threshold: a pixel whose foreground probability (from the per-video model) is above
            this is foreground, in proposals and in masks made without a segmenter. The
            model is trained with balanced classes, so it over-segments at 0.5.
        low_threshold: hysteresis of the proposals: pixels above this also count when
            connected to pixels above ``threshold`` (partly hidden parts of an object keep
            its box whole). Masks use ``threshold``: on four DAVIS-2016 train sequences,
            masks at ``low_threshold`` had J&F 0.31 instead of 0.46, and a per-box Otsu
            threshold clamped to ``[low_threshold, threshold]`` 0.37. With snapping, masks at
            0.55 scored lower on four sequences and at 0.8 the same (0.454 vs 0.450).
        min_area: proposals smaller than this fraction of the frame are dropped.
        merge_radius: foreground pieces closer than this fraction of the frame's shorter
            side form one proposal (a rider and a bicycle are one object).
        link_iou: a proposal continues a trajectory when its IoU with the trajectory's
            predicted box is at least this.
        max_gap: a trajectory survives this many frames without a proposal (occlusion)
            before it is closed.
        min_length: trajectories seen on fewer frames than this fraction of the video (and
            fewer than 3 frames) are dropped.
        keyframes: at most this many confident frames per object become annotations of the
            propagator (temporal consistency); 0 writes the per-frame masks as they are.
        propagate: run the propagator from the keyframes and fill, with its masks, the
            frames inside a trajectory where the object has no box. Off by default: on
            DAVIS-2016 train propagating from discovered (not ground-truth) keyframes
            replaced good per-frame masks with worse ones (see the README's figures), and
            it costs a second pass.
        propagate_all: run the propagator from the keyframes and take its masks on every
            frame (segment-then-propagate; implies ``propagate``). Off by default: on the 20
            DAVIS-2016 train sequences (snapped keyframes, propagator at short side 480) J&F
            was 0.479 against 0.481 without it (J 0.552 vs 0.534, F 0.406 vs 0.428), with
            large swings both ways
            (soccerball 0.70 → 0.81, dance-jump 0.37 → 0.51; flamingo 0.63 → 0.49, swing
            0.62 → 0.55), at 1–2 s more a frame on a CPU.
        snap: masks made without a segmenter are snapped to the image's edges by a colour
            graph cut (:mod:`vosam.discover.snap`); None keeps the coarse masks. On
            DAVIS-2016 train (20 sequences) snapping raised J&F from 0.349 to 0.481 (F from
            0.24 to 0.43) for about 0.2 s more a frame.
    """

    max_objects: int = 5
    feature_short_side: int = 240
    flow_short_side: int = 160
    motion_pixels: float = 2.0
    appearance: str = "objectness"
    objectness_weights: str | None = None
    motion_weight: float | None = None
    label_peak: float = 0.7
    prior_weight: float = 0.5
    fg_threshold: float = 0.55
    bg_threshold: float = 0.3
    threshold: float = 0.7
    low_threshold: float = 0.45
    min_area: float = 0.002
    merge_radius: float = 0.04
    link_iou: float = 0.2
    max_gap: int = 15
    min_length: float = 0.2
    keyframes: int = 4
    propagate: bool = False
    propagate_all: bool = False
    snap: SnapConfig | None = field(default_factory=SnapConfig)

    def __post_init__(self) -> None:
        if self.max_objects < 1:
            raise ValueError("max_objects must be at least 1")
        if self.appearance not in ("objectness", "border"):
            raise ValueError(
                f"appearance must be 'objectness' or 'border', not {self.appearance!r}"
            )
        if self.motion_weight is not None and not 0.0 <= self.motion_weight <= 1.0:
            raise ValueError("motion_weight must be in [0, 1]")
        if not 0.0 <= self.prior_weight <= 1.0:
            raise ValueError("prior_weight must be in [0, 1]")
        if not 0.0 <= self.label_peak <= 1.0:
            raise ValueError("label_peak must be in [0, 1]")
        if not 0.0 <= self.bg_threshold < self.fg_threshold <= 1.0:
            raise ValueError("need 0 <= bg_threshold < fg_threshold <= 1")
        if not 0.0 < self.low_threshold <= self.threshold < 1.0:
            raise ValueError("need 0 < low_threshold <= threshold < 1")
        if self.max_gap < 0 or self.keyframes < 0:
            raise ValueError("max_gap and keyframes must be >= 0")

    @property
    def fused_motion_weight(self) -> float:
        """``motion_weight``, or the appearance cue's default when it is None."""
        if self.motion_weight is not None:
            return self.motion_weight
        return 0.5 if self.appearance == "objectness" else 0.8
