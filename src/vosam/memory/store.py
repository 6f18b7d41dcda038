"""Key-value memory with permanent, working and long-term parts (XMem / XMem++).

- **Permanent** (XMem++): frames the user annotated. Never consolidated, never evicted, no
  usage tracking.
- **Working**: the most recent memory frames. When it holds ``max_working_frames`` frames,
  all but the newest ``min_working_frames - 1`` are consolidated into long-term memory.
- **Long-term**: prototypes. Consolidation picks the ``num_prototypes`` candidates that were
  used most, and gives each prototype an affinity-weighted mix of all candidates' values and
  shrinkage (potentiation). When long-term memory would exceed ``max_long_term_elements``,
  its least-used elements are dropped.

Usage of an element = affinity mass it received in readouts / number of readouts it saw.

Readout is one top-k softmax over long-term + working + permanent memory, so every
annotated frame can influence every query. Values are per object: ``(num_objects, C_v, N)``;
an object added after some elements were written has zero values there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vosam.memory.affinity import readout, similarity, topk_softmax


@dataclass(frozen=True)
class MemoryConfig:
    """Sizes of the memory parts. Defaults are XMem's published ones.

    Attributes:
        top_k: memory elements kept per query pixel in the readout softmax.
        min_working_frames: working frames kept after a consolidation, plus one.
        max_working_frames: working frames that trigger consolidation.
        max_long_term_elements: cap on long-term elements (least used dropped first).
        num_prototypes: long-term elements made per consolidation.
        long_term: False keeps only the newest ``max_working_frames`` working frames (FIFO).
    """

    top_k: int | None = 30
    min_working_frames: int = 5
    max_working_frames: int = 10
    max_long_term_elements: int = 10_000
    num_prototypes: int = 128
    long_term: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.min_working_frames <= self.max_working_frames:
            raise ValueError("need 1 <= min_working_frames <= max_working_frames")
        if self.num_prototypes < 1 or self.max_long_term_elements < self.num_prototypes:
            raise ValueError("need 1 <= num_prototypes <= max_long_term_elements")


class _Segment:
    """Concatenated keys/shrinkage/values of one memory part, with usage counters."""

    def __init__(self) -> None:
        self.key: torch.Tensor | None = None  # (C_k, N)
        self.shrinkage: torch.Tensor | None = None  # (1, N)
        self.value: torch.Tensor | None = None  # (O, C_v, N)
        self.use_count: torch.Tensor | None = None  # (N,)
        self.life_count: torch.Tensor | None = None  # (N,)
        self.frame_sizes: list[int] = []  # elements per added chunk, oldest first

    @property
    def size(self) -> int:
        return 0 if self.key is None else self.key.shape[1]

    def add(self, key: torch.Tensor, shrinkage: torch.Tensor | None, value: torch.Tensor) -> None:
        n = key.shape[1]
        zeros = torch.zeros(n, device=key.device, dtype=key.dtype)
        if self.key is None:
            self.key, self.value = key, value
            self.shrinkage = shrinkage
            self.use_count, self.life_count = zeros, zeros + 1e-7
        else:
            self.key = torch.cat([self.key, key], 1)
            self.value = torch.cat([_pad_objects(self.value, value.shape[0]), value], 2)
            if self.shrinkage is not None and shrinkage is not None:
                self.shrinkage = torch.cat([self.shrinkage, shrinkage], 1)
            self.use_count = torch.cat([self.use_count, zeros])
            self.life_count = torch.cat([self.life_count, zeros + 1e-7])
        self.frame_sizes.append(n)

    def keep(self, index: torch.Tensor) -> None:
        """Keep only the elements at ``index`` (1-D long tensor)."""
        self.key = self.key[:, index]
        self.value = self.value[:, :, index]
        if self.shrinkage is not None:
            self.shrinkage = self.shrinkage[:, index]
        self.use_count = self.use_count[index]
        self.life_count = self.life_count[index]

    def usage(self) -> torch.Tensor:
        return self.use_count / self.life_count

    def grow_objects(self, num_objects: int) -> None:
        if self.value is not None:
            self.value = _pad_objects(self.value, num_objects)

    def drop_object(self, slot: int) -> None:
        if self.value is not None:
            self.value = torch.cat([self.value[:slot], self.value[slot + 1 :]], 0)


def _pad_objects(value: torch.Tensor, num_objects: int) -> torch.Tensor:
    """Zero-pad ``value (O, C, N)`` to ``num_objects`` objects."""
    missing = num_objects - value.shape[0]
    if missing <= 0:
        return value
    pad = value.new_zeros(missing, *value.shape[1:])
    return torch.cat([value, pad], 0)


class MemoryStore:
    """Per-video memory of one engine. See the module docstring for the policy."""

    def __init__(self, config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self.permanent = _Segment()
        self.working = _Segment()
        self.long_term = _Segment()
        self.num_objects = 0

    @property
    def size(self) -> int:
        """Total number of memory elements."""
        return self.permanent.size + self.working.size + self.long_term.size

    @property
    def empty(self) -> bool:
        return self.size == 0

    def set_num_objects(self, num_objects: int) -> None:
        """Grow every part's values to ``num_objects`` (new objects read as zeros)."""
        self.num_objects = max(self.num_objects, num_objects)
        for seg in (self.permanent, self.working, self.long_term):
            seg.grow_objects(self.num_objects)

    def remove_object(self, slot: int) -> None:
        """Forget object tensor slot ``slot``; later slots move down by one."""
        for seg in (self.permanent, self.working, self.long_term):
            seg.drop_object(slot)
        self.num_objects -= 1

    def add(
        self,
        key: torch.Tensor,
        value: torch.Tensor,
        *,
        shrinkage: torch.Tensor | None = None,
        permanent: bool = False,
    ) -> None:
        """Add one frame: ``key (C_k, N)``, ``value (O, C_v, N)``, ``shrinkage (1, N)``."""
        self.set_num_objects(value.shape[0])
        value = _pad_objects(value, self.num_objects)
        if permanent:
            self.permanent.add(key, shrinkage, value)
            return
        self.working.add(key, shrinkage, value)
        cfg = self.config
        if len(self.working.frame_sizes) >= cfg.max_working_frames + 1:
            if cfg.long_term:
                self._consolidate()
            else:
                self._drop_oldest_working()

    def read(
        self, query_key: torch.Tensor, *, selection: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Read values ``(O, C_v, M)`` for query keys ``(C_k, M)``; updates usage."""
        parts = [s for s in (self.long_term, self.working, self.permanent) if s.size]
        if not parts:
            raise RuntimeError("memory is empty: add an annotated frame first")
        key = torch.cat([s.key for s in parts], 1)
        value = torch.cat([_pad_objects(s.value, self.num_objects) for s in parts], 2)
        shrink = None
        if all(s.shrinkage is not None for s in parts):
            shrink = torch.cat([s.shrinkage for s in parts], 1)
        sim = similarity(key, query_key, shrinkage=shrink, selection=selection)
        aff = topk_softmax(sim, self.config.top_k)
        used = aff.sum(1)
        start = 0
        for seg in parts:
            if seg is not self.permanent:
                seg.use_count += used[start : start + seg.size]
                seg.life_count += 1
            start += seg.size
        return readout(aff, value)

    def _drop_oldest_working(self) -> None:
        n = self.working.frame_sizes.pop(0)
        keep = torch.arange(n, self.working.size, device=self.working.key.device)
        self.working.keep(keep)

    def _consolidate(self) -> None:
        """Turn all but the newest ``min_working_frames - 1`` working frames into prototypes."""
        cfg, work = self.config, self.working
        n_keep_frames = cfg.min_working_frames - 1
        n_cand = sum(work.frame_sizes[: len(work.frame_sizes) - n_keep_frames])
        if n_cand == 0:
            return
        dev = work.key.device
        cand = torch.arange(n_cand, device=dev)
        c_key, c_val = work.key[:, cand], work.value[:, :, cand]
        c_shr = None if work.shrinkage is None else work.shrinkage[:, cand]
        usage = work.usage()[cand]
        k = min(cfg.num_prototypes, n_cand)
        proto = torch.topk(usage, k=k, sorted=True).indices
        p_key = c_key[:, proto]
        # potentiation: prototypes read the candidates' values with a full softmax
        aff = topk_softmax(similarity(c_key, p_key, shrinkage=c_shr), None)
        p_val = readout(aff, c_val)
        p_shr = None if c_shr is None else readout(aff, c_shr)
        work.keep(torch.arange(n_cand, work.size, device=dev))
        work.frame_sizes = work.frame_sizes[len(work.frame_sizes) - n_keep_frames :]
        lt = self.long_term
        budget = cfg.max_long_term_elements - k
        if lt.size > budget:
            lt.keep(torch.topk(lt.usage(), k=budget, sorted=False).indices.sort().values)
        lt.add(p_key, p_shr, p_val)
