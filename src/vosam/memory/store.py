"""Key-value memory with permanent, working and long-term parts (XMem / XMem++).

- **Permanent**: frames that stay for the whole video. Never consolidated, never evicted,
  no usage tracking. XMem keeps its first (annotated) frame this way; XMem++ keeps every
  annotated frame this way.
- **Working**: the most recent memory frames. XMem counts its never-consolidated first frame
  as one of ``max_working_frames``; here that frame lives in permanent memory, which keeps
  that one slot however many frames it holds. So when working memory proper reaches
  ``max_working_frames - 1`` frames, all but its newest ``min_working_frames - 1`` become
  consolidation candidates.
- **Long-term**: prototypes. A consolidation picks the ``num_prototypes`` candidates with the
  highest usage as prototype keys and gives each an affinity-weighted mix of the candidates'
  values and shrinkage (a full softmax of the prototype-to-candidate similarity, with the
  prototype's selection). Before that, when long-term memory holds
  ``max_long_term_elements - num_prototypes`` elements or more, its least-used elements are
  dropped (every element whose usage is at or below the k-th lowest, as XMem does; with
  ``eviction_buffer`` set, only the ``max_long_term_elements - num_prototypes -
  eviction_buffer`` most used stay, as Cutie does).

Usage of an element = affinity mass it received in readouts / number of readouts it saw.

**Objects.** Keys are shared; values are per object ``(O, C_v, N)``. Each element records
how many object slots have a value there (objects enter in slot order, so these are always
the first ``valid`` slots). Objects that entered together form a group; each group reads
with its own top-k softmax over only the elements that hold its values (XMem's object
groups), and usage is counted from the group that sees every element. Objects without any
value in memory read zeros.

Readout concatenates long-term, permanent and working memory (XMem's order: long-term, then
the working store whose first frame is the permanent one) and applies one top-k softmax per
group over all of it, so every permanent frame can influence every query.

Deviation from XMem's code, on purpose: XMem aligns a late group's values with the *last*
keys of a store, which mismatches keys and values once such a group is consolidated (and it
raises NotImplementedError when long-term memory with several groups must evict). Here every
element keeps its own values, so results are XMem's exactly while all objects are present
from the first memory frame, and stay well defined afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vosam.memory.affinity import TopK, similarity, topk_affinity

# similarity scores computed at once by a readout without a selection (8 MB of float32)
_CHUNK_SCORES = 1 << 21


@dataclass(frozen=True)
class MemoryConfig:
    """Sizes of the memory parts. Defaults are XMem's published ones.

    Attributes:
        top_k: memory elements kept per query pixel in the readout softmax (None = all).
        min_working_frames: XMem's T_min; a consolidation leaves the newest
            ``min_working_frames - 1`` working frames (plus permanent memory).
        max_working_frames: XMem's T_max, counting permanent memory as one frame; None
            (only with ``long_term=False``) lets working memory grow without bound, as XMem
            does without long-term memory.
        max_long_term_elements: cap on long-term elements (least used dropped first).
        num_prototypes: long-term elements made per consolidation.
        long_term: False never consolidates; the oldest working frames are dropped once
            ``max_working_frames - 1`` are held (if ``max_working_frames`` is set).
        eviction_buffer: None: XMem's eviction (long-term memory above
            ``max_long_term_elements - num_prototypes`` drops its least used elements down to
            that size). A number: Cutie's (long-term memory at that size or above keeps only
            its ``max_long_term_elements - num_prototypes - eviction_buffer`` most used
            elements, most used first).
    """

    top_k: int | None = 30
    min_working_frames: int = 5
    max_working_frames: int | None = 10
    max_long_term_elements: int = 10_000
    num_prototypes: int = 128
    long_term: bool = True
    eviction_buffer: int | None = None

    def __post_init__(self) -> None:
        if self.max_working_frames is None:
            if self.long_term:
                raise ValueError("max_working_frames=None needs long_term=False")
        elif not 1 <= self.min_working_frames < self.max_working_frames:
            raise ValueError("need 1 <= min_working_frames < max_working_frames")
        if self.max_working_frames is not None and self.max_working_frames < 2:
            raise ValueError("max_working_frames counts permanent memory: need >= 2")
        if self.num_prototypes < 1 or self.max_long_term_elements < self.num_prototypes:
            raise ValueError("need 1 <= num_prototypes <= max_long_term_elements")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError("top_k must be >= 1 or None")
        if self.eviction_buffer is not None and not (
            0 <= self.eviction_buffer < self.max_long_term_elements - self.num_prototypes
        ):
            raise ValueError("need 0 <= eviction_buffer < max_long_term_elements - num_prototypes")


class _Part:
    """Concatenated elements of one memory part.

    ``key (C_k, N)``, ``shrinkage (1, N)``, ``selection (C_k, N)`` or None, ``value
    (O, C_v, N)``, ``valid (N,)`` slots holding a value, ``use``/``life (N,)`` usage counters,
    ``frames``: ``[size, tag]`` per added chunk, oldest first.
    """

    def __init__(self) -> None:
        self.key: torch.Tensor | None = None
        self.shrinkage: torch.Tensor | None = None
        self.selection: torch.Tensor | None = None
        self.value: torch.Tensor | None = None
        self.valid: torch.Tensor | None = None
        self.use: torch.Tensor | None = None
        self.life: torch.Tensor | None = None
        self.frames: list[tuple[int, int | None]] = []

    @property
    def size(self) -> int:
        return 0 if self.key is None else self.key.shape[1]

    def add(
        self,
        key: torch.Tensor,
        shrinkage: torch.Tensor,
        selection: torch.Tensor | None,
        value: torch.Tensor,
        valid: torch.Tensor,
        tag: int | None = None,
    ) -> None:
        n = key.shape[1]
        use = torch.zeros(n, dtype=torch.float32, device=key.device)
        if self.key is None:
            self.key, self.shrinkage, self.selection = key, shrinkage, selection
            self.value, self.valid = value, valid
            self.use, self.life = use, use + 1e-7
        else:
            self.key = torch.cat([self.key, key], 1)
            self.shrinkage = torch.cat([self.shrinkage, shrinkage], 1)
            if self.selection is None or selection is None:
                self.selection = None
            else:
                self.selection = torch.cat([self.selection, selection], 1)
            rows = max(self.value.shape[0], value.shape[0])
            self.value = torch.cat([_pad_rows(self.value, rows), _pad_rows(value, rows)], 2)
            self.valid = torch.cat([self.valid, valid])
            self.use = torch.cat([self.use, use])
            self.life = torch.cat([self.life, use + 1e-7])
        self.frames.append((n, tag))

    def keep(self, index: torch.Tensor) -> None:
        """Keep only the elements at ``index`` (1-D long tensor), in that order."""
        self.key = self.key[:, index]
        self.shrinkage = self.shrinkage[:, index]
        if self.selection is not None:
            self.selection = self.selection[:, index]
        self.value = self.value[:, :, index]
        self.valid = self.valid[index]
        self.use = self.use[index]
        self.life = self.life[index]

    def drop_frames(self, count: int) -> None:
        """Drop the oldest ``count`` added chunks."""
        n = sum(size for size, _ in self.frames[:count])
        rest = self.frames[count:]
        if not rest:
            self.__init__()
            return
        self.keep(torch.arange(n, self.size, device=self.key.device))
        self.frames = rest

    def usage(self) -> torch.Tensor:
        return self.use / self.life

    def grow_objects(self, num_objects: int) -> None:
        if self.value is not None:
            self.value = _pad_rows(self.value, num_objects)

    def drop_object(self, slot: int) -> None:
        if self.value is None:
            return
        self.value = torch.cat([self.value[:slot], self.value[slot + 1 :]], 0)
        self.valid = self.valid - (self.valid > slot).long()


def _pad_rows(value: torch.Tensor, rows: int) -> torch.Tensor:
    """Zero-pad ``value (O, C, N)`` to ``rows`` objects."""
    missing = rows - value.shape[0]
    if missing <= 0:
        return value
    return torch.cat([value, value.new_zeros(missing, *value.shape[1:])], 0)


def _full_softmax(sim: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 0, spelled as XMem's potentiation does (same rounding)."""
    x = torch.exp(sim - sim.max(0, keepdim=True).values)
    return x / x.sum(0, keepdim=True)


def _concat_queries(pieces: list[TopK]) -> TopK:
    """One :class:`TopK` from affinities of consecutive query chunks."""
    return TopK(
        torch.cat([p.weights for p in pieces], 1),
        torch.cat([p.indices for p in pieces], 1),
        pieces[0].size,
    )


def _groups(valid: torch.Tensor) -> list[tuple[int, int]]:
    """Object groups ``[(first_slot, end_slot), ...]`` from per-element valid counts."""
    ends = sorted({int(v) for v in torch.unique(valid).tolist() if v > 0})
    return list(zip([0, *ends[:-1]], ends, strict=True))


class MemoryStore:
    """Per-video memory of one engine. See the module docstring for the policy."""

    def __init__(self, config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self.permanent = _Part()
        self.working = _Part()
        self.long_term = _Part()
        self.num_objects = 0

    @property
    def size(self) -> int:
        """Total number of memory elements."""
        return self.permanent.size + self.working.size + self.long_term.size

    @property
    def empty(self) -> bool:
        return self.size == 0

    @property
    def objects_with_values(self) -> int:
        """Number of leading object slots that have a value in at least one element."""
        counts = [int(p.valid.max()) for p in self._parts() if p.size]
        return max(counts, default=0)

    @property
    def working_frames(self) -> int:
        """Frames in working memory proper (permanent memory not counted)."""
        return len(self.working.frames)

    def set_num_objects(self, num_objects: int) -> None:
        """Register ``num_objects`` object slots; slots without values read zeros."""
        self.num_objects = max(self.num_objects, num_objects)
        for part in self._parts():
            part.grow_objects(self.num_objects)

    def remove_object(self, slot: int) -> None:
        """Forget object tensor slot ``slot``; later slots move down by one."""
        for part in self._parts():
            part.drop_object(slot)
        self.num_objects -= 1

    def clear_permanent(self) -> None:
        """Empty permanent memory (e.g. to write its frames again with more objects)."""
        self.permanent = _Part()

    def add(
        self,
        key: torch.Tensor,
        value: torch.Tensor,
        *,
        shrinkage: torch.Tensor | None = None,
        selection: torch.Tensor | None = None,
        permanent: bool = False,
        tag: int | None = None,
    ) -> None:
        """Add one frame.

        Args:
            key: ``(C_k, N)``.
            value: ``(O, C_v, N)`` for the first ``O`` object slots (the objects that have a
                value on this frame); slots from ``O`` on have none here.
            shrinkage: ``(1, N)``, None for 1.
            selection: ``(C_k, N)``, used when the frame is consolidated (prototypes read the
                candidates with their own selection); None leaves it out.
            permanent: add to permanent memory instead of working memory.
            tag: a label for :meth:`pop_working` (e.g. the frame index).
        """
        n = key.shape[1]
        self.set_num_objects(value.shape[0])
        valid = torch.full((n,), value.shape[0], dtype=torch.long, device=key.device)
        value = _pad_rows(value, self.num_objects)
        if shrinkage is None:
            shrinkage = key.new_ones(1, n)
        if permanent:
            self.permanent.add(key, shrinkage, selection, value, valid, tag)
            return
        self.working.add(key, shrinkage, selection, value, valid, tag)
        cfg = self.config
        if cfg.max_working_frames is not None and self.working_frames >= cfg.max_working_frames - 1:
            if cfg.long_term:
                self._consolidate()
            else:
                self.working.drop_frames(1)

    def pop_working(self, tag: int) -> bool:
        """Remove the newest working frame if it was added with ``tag``; True if removed."""
        if not self.working.frames or self.working.frames[-1][1] != tag:
            return False
        n = self.working.frames.pop()[0]
        if not self.working.frames:
            self.working = _Part()
        else:
            self.working.keep(torch.arange(self.working.size - n, device=self.working.key.device))
        return True

    def read(
        self, query_key: torch.Tensor, *, selection: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Read values ``(num_objects, C_v, M)`` for query keys ``(C_k, M)``; updates usage.

        Args:
            selection: ``(C_k, M)`` query selection, or None.
        """
        parts = [p for p in self._parts() if p.size]
        if not parts:
            raise RuntimeError("memory is empty: add an annotated frame first")
        key = torch.cat([p.key for p in parts], 1)
        shrink = torch.cat([p.shrinkage for p in parts], 1)
        valid = torch.cat([p.valid for p in parts])
        value = torch.cat([_pad_rows(p.value, self.num_objects) for p in parts], 2)
        m = query_key.shape[1]
        groups = _groups(valid)
        # rows of the memory that each group reads (None: all of them)
        group_rows = []
        for _, end in groups:
            rows = (valid >= end).nonzero().squeeze(1)
            group_rows.append(None if rows.numel() == valid.numel() else rows)
        # Without a selection the queries are scored a chunk at a time, so the (N, chunk)
        # similarity stays small: no fresh pages to fault in for a large matrix every frame,
        # and the top-k reads it from cache. Each query's scores are computed alike either
        # way. With a selection (XMem) the one product is kept, so scores round as XMem's.
        step = max(m, 1) if selection is not None else max(1, _CHUNK_SCORES // max(key.shape[1], 1))
        pieces: list[list[TopK]] = [[] for _ in groups]
        for start in range(0, max(m, 1), step):
            cols = slice(start, min(start + step, m))
            sim = similarity(
                key,
                query_key[:, cols],
                shrinkage=shrink,
                selection=None if selection is None else selection[:, cols],
            )
            for piece, rows in zip(pieces, group_rows, strict=True):
                piece.append(topk_affinity(sim if rows is None else sim[rows], self.config.top_k))

        out = value.new_zeros(self.num_objects, value.shape[1], m)
        usage: torch.Tensor | None = None
        for (first, end), rows, piece in zip(groups, group_rows, pieces, strict=True):
            aff = piece[0] if len(piece) == 1 else _concat_queries(piece)
            if rows is not None:
                aff = TopK(aff.weights, rows[aff.indices], valid.numel())
            out[first:end] = aff.read(value[first:end])
            if usage is None:
                usage = aff.usage()
        self._count_usage(parts, usage)
        return out

    def _parts(self) -> tuple[_Part, _Part, _Part]:
        """All parts in readout order."""
        return (self.long_term, self.permanent, self.working)

    def _count_usage(self, parts: list[_Part], usage: torch.Tensor | None) -> None:
        start = 0
        for part in parts:
            if part is not self.permanent and usage is not None:
                part.use += usage[start : start + part.size]
                part.life += 1
            start += part.size

    def _consolidate(self) -> None:
        """Turn all but the newest ``min_working_frames - 1`` working frames into prototypes."""
        cfg, work = self.config, self.working
        n_keep = cfg.min_working_frames - 1
        cand_frames = len(work.frames) - n_keep
        n_cand = sum(size for size, _ in work.frames[:cand_frames])
        if n_cand == 0:
            return
        c_key, c_shr = work.key[:, :n_cand], work.shrinkage[:, :n_cand]
        c_sel = None if work.selection is None else work.selection[:, :n_cand]
        c_val, c_valid = work.value[:, :, :n_cand], work.valid[:n_cand]
        proto = torch.topk(work.usage()[:n_cand], k=min(cfg.num_prototypes, n_cand)).indices
        p_key = c_key[:, proto]
        p_sel = None if c_sel is None else c_sel[:, proto]
        p_valid = c_valid[proto]
        sim = similarity(c_key, p_key, shrinkage=c_shr, selection=p_sel)  # (n_cand, P)

        p_val = c_val.new_zeros(c_val.shape[0], c_val.shape[1], proto.numel())
        p_shr = p_key.new_ones(1, proto.numel())
        shrinkage_done = False
        for first, end in _groups(c_valid):
            rows = (c_valid >= end).nonzero().squeeze(1)
            cols = (p_valid >= end).nonzero().squeeze(1)
            if cols.numel() == 0:
                continue
            aff = _full_softmax(sim[rows][:, cols])[None]  # (1, rows, cols)
            p_val[first:end, :, cols] = c_val[first:end, :, rows] @ aff
            if not shrinkage_done:  # from the group that sees every candidate
                p_shr[:, cols] = (c_shr[:, rows][None] @ aff)[0]
                shrinkage_done = True

        work.drop_frames(cand_frames)

        lt = self.long_term
        budget = cfg.max_long_term_elements - cfg.num_prototypes
        if cfg.eviction_buffer is not None:
            if lt.size >= budget:
                usage = lt.usage()
                lt.keep(torch.topk(usage, k=budget - cfg.eviction_buffer).indices)
        elif lt.size > budget:
            usage = lt.usage()
            kth = torch.topk(usage, k=lt.size - budget, largest=False, sorted=True).values[-1]
            lt.keep((usage > kth).nonzero().squeeze(1))
        lt.add(p_key, p_shr, None, p_val, p_valid)
        lt.frames = [(lt.size, None)]
