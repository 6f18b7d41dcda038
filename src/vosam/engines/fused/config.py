"""Typed configuration of the fused embedded engine."""

from __future__ import annotations

from dataclasses import dataclass

from vosam.ops.working_size import MAX_LONG_SIDE


@dataclass(frozen=True)
class FusedConfig:
    """Knobs of the fused engine; the defaults are the ones its benchmark measured.

    Attributes:
        short_side: frames are resized so their shorter side has this many pixels before
            the backbone, unless the longer would exceed ``max_long_side``.
        max_long_side: see ``short_side``.
        key_dims: stride-8 matching keys are projected on this many principal directions
            of the first annotated frame's keys (None keeps all 232 channels).
        radius: cells (stride 8) a query tile's window reaches beyond the tile.
        tile: query cells per tile side; each tile reads one window of every memory frame.
        recent: propagated frames kept in memory besides the annotated ones.
        top_k: matches averaged per query cell (local readout).
        temperature: softmax temperature of cosine similarities (local and global).
        flow: shift each memory frame's windows by the optical flow composed since that
            frame (dense DIS flow), so a fast object stays inside its window. Off by
            default: on the development sequences it cost J&F (0.739 without, 0.731 with).
        correspondence: propagate labels from memory (off: the detection alone decides;
            for ablations).
        detection: the drift-free detection (global readout times appearance model; off:
            propagation alone; for ablations).
        global_top_k: matches per cell of the global stride-16 readout of the annotated
            frames (the drift-free half of the detection).
        detect_min: an object is re-detected only where the detection's best cell is at
            least this probable...
        switch_agree: ...and the detection's mask and the propagated mask overlap (IoU) less
            than this: then the detection's largest component replaces the propagated mask.
        grow: above that overlap, detected parts touching the propagated mask are added to
            it (thin parts the windows missed)...
        grow_below: ...only while the propagated mask is smaller than this share of the
            object's median area (None: always), that is while the object is being lost.
        area_range: a re-detected component is accepted only if its area lies within this
            range of the object's median area over the last ``area_history`` frames.
        area_history: frames of the median area.
        ridge_lambda: regularisation of the per-video appearance model (ridge regression
            over the stride-8 features), relative to the mean of its Gram diagonal.
        parent: ``"shipped"`` starts the appearance model from the parent model that ships
            with vosam (made by ``vosam train``), a path names another, None fits each
            video alone.
        parent_lambda: ``ridge_lambda`` when a parent is used (the pull towards it).
        online_frame: a propagated frame updates the appearance model when its mean winning
            probability is at least this...
        online_pixel: ...from its pixels at least this probable.
        online_decay: weight of the older online statistics at each update.
        guided_radius: radius (full-resolution pixels) of the edge-aware upsampling.
        guided_eps: regularisation of the guided filter.
    """

    short_side: int = 480
    max_long_side: int = MAX_LONG_SIDE
    key_dims: int | None = 64
    radius: int = 8
    tile: int = 8
    recent: int = 7
    top_k: int = 10
    temperature: float = 0.05
    flow: bool = False
    correspondence: bool = True
    detection: bool = True
    global_top_k: int = 10
    detect_min: float = 0.7
    switch_agree: float = 0.3
    grow: bool = True
    grow_below: float | None = 0.8
    area_range: tuple[float, float] = (0.3, 3.0)
    area_history: int = 10
    ridge_lambda: float = 0.1
    parent: str | None = None
    parent_lambda: float = 0.3
    online_frame: float = 0.7
    online_pixel: float = 0.9
    online_decay: float = 0.95
    guided_radius: int = 8
    guided_eps: float = 1e-3

    def __post_init__(self) -> None:
        if self.short_side < 64:
            raise ValueError("short_side must be at least 64")
        if self.max_long_side < self.short_side:
            raise ValueError("max_long_side must be at least short_side")
        if self.radius < 0 or self.tile < 1:
            raise ValueError("radius must be >= 0 and tile >= 1")
        if self.recent < 0 or self.top_k < 1 or self.global_top_k < 1:
            raise ValueError("recent must be >= 0, top_k and global_top_k >= 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")
        if not (self.correspondence or self.detection):
            raise ValueError("correspondence and detection cannot both be off")
        low, high = self.area_range
        if not 0 <= low < high:
            raise ValueError("area_range must be (low, high) with 0 <= low < high")
        if self.ridge_lambda <= 0 or self.parent_lambda <= 0:
            raise ValueError("ridge_lambda and parent_lambda must be positive")
        if not 0 <= self.online_decay <= 1:
            raise ValueError("online_decay must be in [0, 1]")
