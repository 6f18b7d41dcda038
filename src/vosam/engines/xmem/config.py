"""Inference settings of the XMem engine. Defaults are XMem's published ones."""

from __future__ import annotations

from dataclasses import dataclass

from vosam.memory import MemoryConfig
from vosam.ops.working_size import MAX_LONG_SIDE


@dataclass(frozen=True)
class XMemConfig:
    """How the XMem engine runs.

    Attributes:
        size: frames are resized so that their shorter side is ``size`` (bilinear for
            images, nearest for masks) and outputs resized back; -1 keeps the resolution.
        max_long_side: with ``size`` > 0, the longer side is capped at this many pixels
            (frames wider or taller than about 2.13:1 at the defaults; see
            :mod:`vosam.ops.working_size`).
        antialias: antialias when shrinking frames. True matches XMem run with torchvision
            0.17 or newer (whose tensor resize antialiases by default); older torchvision did
            not. No effect when frames already have the target size (e.g. DAVIS 480p).
        mem_every: a frame becomes a working-memory frame every ``mem_every`` frames
            (annotated frames always do).
        deep_update_every: refresh the sensory memory through the value encoder every this
            many frames; -1 does it on memory frames (XMem's default).
        top_k: memory elements per query pixel in the readout softmax.
        long_term: consolidate working memory into long-term prototypes.
        min_working_frames: XMem's T_min (min_mid_term_frames).
        max_working_frames: XMem's T_max (max_mid_term_frames).
        max_long_term_elements: XMem's LT_max.
        num_prototypes: XMem's P, prototypes per consolidation.
        amp: float16 autocast on CUDA (XMem's evaluation does this); ignored on the CPU.
        partial_annotations: False (default): an annotation is the frame's whole ground
            truth; objects missing from it are absent there. True: an annotation only
            introduces the objects it contains; objects tracked before keep their predicted
            masks outside its pixels (XMem's YouTube-VOS protocol).
    """

    size: int = 480
    max_long_side: int = MAX_LONG_SIDE
    antialias: bool = True
    mem_every: int = 5
    deep_update_every: int = -1
    top_k: int = 30
    long_term: bool = True
    min_working_frames: int = 5
    max_working_frames: int = 10
    max_long_term_elements: int = 10_000
    num_prototypes: int = 128
    amp: bool = True
    partial_annotations: bool = False

    def __post_init__(self) -> None:
        if self.size == 0 or self.size < -1:
            raise ValueError("size must be positive or -1")
        if self.size > 0 and self.max_long_side < self.size:
            raise ValueError("max_long_side must be at least size")
        if self.mem_every < 1:
            raise ValueError("mem_every must be >= 1")
        if self.deep_update_every == 0 or self.deep_update_every < -1:
            raise ValueError("deep_update_every must be positive or -1")
        self.memory()  # validates the memory sizes

    def memory(self) -> MemoryConfig:
        """The :class:`MemoryConfig` these settings describe."""
        return MemoryConfig(
            top_k=self.top_k,
            min_working_frames=self.min_working_frames,
            max_working_frames=self.max_working_frames if self.long_term else None,
            max_long_term_elements=self.max_long_term_elements,
            num_prototypes=self.num_prototypes,
            long_term=self.long_term,
        )
