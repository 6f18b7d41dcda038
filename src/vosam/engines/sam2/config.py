"""Settings of the SAM 2 engine's trackers. Defaults follow SAM 2's video predictor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SAM2Config:
    """How a SAM 2 tracker keeps memory and runs.

    The network's own settings (``num_maskmem``, ``max_obj_ptrs_in_encoder``, image size...)
    come from the model config; these are the per-video choices on top.

    Attributes:
        max_conditioning_frames: how many conditioning frames (annotated or prompted, vosam's
            permanent memory) each frame attends to: the ones closest in time. None attends
            to all of them, as SAM 2 does by default; a number bounds the cost per frame on
            videos with many annotations (at least 2, as SAM 2 requires). Every
            conditioning frame stays stored either way.
        offload_state: keep stored memory features and mask logits on the CPU (SAM 2's
            ``offload_state_to_cpu``); saves accelerator memory at some speed.
        amp: bfloat16 autocast on CUDA; ignored on the CPU.
        fill_holes: fill small background holes in the mask logits with the model's
            ``fill_hole_area`` (SAM 2's post-processing). It needs sam2's compiled CUDA
            extension; without it (and on the CPU) masks are left as they are, as SAM 2 does.
    """

    max_conditioning_frames: int | None = None
    offload_state: bool = False
    amp: bool = True
    fill_holes: bool = True

    def __post_init__(self) -> None:
        if self.max_conditioning_frames is not None and self.max_conditioning_frames < 2:
            raise ValueError("max_conditioning_frames must be None or >= 2 (as in SAM 2)")
