"""Inference settings of the Cutie engine. Defaults are Cutie's evaluation settings for
DAVIS, YouTube-VOS and MOSE (``eval_config.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from vosam.memory import MemoryConfig
from vosam.ops.working_size import MAX_LONG_SIDE


@dataclass(frozen=True)
class CutieConfig:
    """How the Cutie engine runs.

    Attributes:
        size: frames whose shorter side exceeds ``size`` are shrunk to it (bilinear with
            antialiasing; masks nearest) and outputs resized back; smaller frames are kept
            as they are; -1 never resizes. Cutie's "plus" setting uses 720 (600 for
            YouTube-VOS) with ``mem_every=3, max_mem_frames=10``.
        max_long_side: a shrunk frame's longer side is capped at this many pixels (frames
            wider or taller than about 2.13:1 at the defaults; see
            :mod:`vosam.ops.working_size`).
        antialias: antialias when shrinking frames (Cutie's loader does).
        mem_every: a frame becomes a memory frame when this many frames have passed since
            the last one (annotated frames always do).
        stagger_updates: the decoder refreshes the sensory memory on this many of the
            ``mem_every`` frames after a memory frame, spread evenly (Cutie: 5, i.e. on all).
        top_k: memory elements per query pixel in the readout softmax.
        max_mem_frames: without long-term memory, each object group keeps its first memory
            frame plus the newest ``max_mem_frames - 1`` others.
        long_term: consolidate older frames into long-term prototypes instead (Cutie's
            setting for generic videos, LVOS and BURST).
        long_term_max_frames: with ``long_term``, consolidate when ``long_term_max_frames -
            1`` non-permanent frames are held ...
        long_term_min_frames: ... keeping the newest ``long_term_min_frames - 1``.
        num_prototypes: prototypes made per consolidation.
        max_long_term_elements: cap on long-term elements ...
        long_term_buffer: ... before a consolidation that would exceed it, only the
            ``max_long_term_elements - num_prototypes - long_term_buffer`` most used stay.
        amp: float16 autocast on CUDA (off in Cutie's evaluation); ignored on the CPU.
        partial_annotations: False (default): an annotation is the frame's whole ground
            truth. True: an annotation only introduces the objects it contains; objects
            tracked before keep their predicted masks outside its pixels (YouTube-VOS).
    """

    size: int = 480
    max_long_side: int = MAX_LONG_SIDE
    antialias: bool = True
    mem_every: int = 5
    stagger_updates: int = 5
    top_k: int = 30
    max_mem_frames: int = 5
    long_term: bool = False
    long_term_max_frames: int = 10
    long_term_min_frames: int = 5
    num_prototypes: int = 128
    max_long_term_elements: int = 10_000
    long_term_buffer: int = 2_000
    amp: bool = False
    partial_annotations: bool = False

    def __post_init__(self) -> None:
        if self.size == 0 or self.size < -1:
            raise ValueError("size must be positive or -1")
        if self.size > 0 and self.max_long_side < self.size:
            raise ValueError("max_long_side must be at least size")
        if self.mem_every < 1:
            raise ValueError("mem_every must be >= 1")
        if self.stagger_updates < 1:
            raise ValueError("stagger_updates must be >= 1")
        if self.max_mem_frames < 1:
            raise ValueError("max_mem_frames must be >= 1")
        if self.long_term_buffer < 0 or (
            self.max_long_term_elements - self.num_prototypes - self.long_term_buffer < 1
        ):
            raise ValueError("need max_long_term_elements > num_prototypes + long_term_buffer")
        self.memory()  # validates the memory sizes

    @property
    def sensory_steps(self) -> frozenset[int]:
        """Frames after a memory frame (1 = the next one) on which the decoder refreshes the
        sensory memory."""
        n, every = self.stagger_updates, self.mem_every
        if n >= every:
            return frozenset(range(1, every + 1))
        if n == 1:
            return frozenset({1})
        step = (every - 1) / (n - 1)
        return frozenset(round(1 + i * step) for i in range(n))

    def memory(self) -> MemoryConfig:
        """The :class:`MemoryConfig` of one object group's store.

        :class:`~vosam.memory.MemoryStore` counts permanent memory as one of
        ``max_working_frames`` and acts once ``max_working_frames - 1`` non-permanent frames
        are held: consolidation is Cutie's at ``long_term_max_frames``; for the first-in,
        first-out mode, where Cutie drops a frame once it holds ``max_mem_frames``
        non-permanent ones, that is ``max_working_frames = max_mem_frames + 1``.
        """
        if self.long_term:
            return MemoryConfig(
                top_k=self.top_k,
                min_working_frames=self.long_term_min_frames,
                max_working_frames=self.long_term_max_frames,
                max_long_term_elements=self.max_long_term_elements,
                num_prototypes=self.num_prototypes,
                long_term=True,
                eviction_buffer=self.long_term_buffer,
            )
        return MemoryConfig(
            top_k=self.top_k,
            min_working_frames=1,
            max_working_frames=self.max_mem_frames + 1,
            long_term=False,
        )
