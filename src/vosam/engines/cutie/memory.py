"""Cutie's memory: object groups, each with its own key-value store, and object memories.

Objects that enter on the same frame form a group (Cutie's "bucket"). Every memory frame
is written into every group's :class:`~vosam.memory.MemoryStore`, with the values of that
group's objects; a group's first memory frame stays for the whole video (the store's
permanent memory), the others are dropped first in, first out (Cutie's evaluation
setting) or consolidated into long-term prototypes (:class:`CutieConfig.long_term`). A
group reads with its own top-k softmax over its own store, so an object that enters late
never reads frames written before it existed.

Each object also has an object memory: the running sums of the summarizer's weighted
features and weights over all its memory frames, never evicted.

XMem++'s permanent memory (:meth:`GroupedMemory.set_permanent`): the annotated frames
given before propagation are written into every group's permanent memory with values for
every object; objects known from them form one group when nothing was propagated yet.
Their object-memory sums are kept apart and rewritten with them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from vosam.memory import MemoryConfig, MemoryStore


@dataclass(frozen=True)
class MemoryFrame:
    """One frame to write: key-side tensors and every object's values and summaries.

    Attributes:
        ids: user ids of the objects, in the order of ``values`` and ``summaries``.
        key: ``(C_k, N)``; shrinkage ``(1, N)``; selection ``(C_k, N)`` or None.
        values: ``(O, C_v, N)``.
        summaries: ``(O, Q, C + 1)``.
        tag: the frame index.
    """

    ids: tuple[int, ...]
    key: torch.Tensor
    shrinkage: torch.Tensor
    selection: torch.Tensor | None
    values: torch.Tensor
    summaries: torch.Tensor
    tag: int

    def rows(self, ids: Sequence[int]) -> torch.Tensor:
        """``values`` of ``ids`` only, in that order."""
        return self.values[[self.ids.index(i) for i in ids]]


@dataclass
class ObjectGroup:
    """Objects that entered together and the store they read from.

    Attributes:
        ids: user ids, in entry order.
        store: keys of every frame written since the group began, values of ``ids``.
        first: the group's own first memory frame, kept permanently (rewritten after
            :meth:`GroupedMemory.set_permanent`), or None.
    """

    ids: list[int]
    store: MemoryStore
    first: MemoryFrame | None = None


@dataclass
class _Sums:
    """Object memories: running sums over memory frames, and those of permanent frames."""

    running: dict[int, torch.Tensor] = field(default_factory=dict)
    permanent: dict[int, torch.Tensor] = field(default_factory=dict)
    last: MemoryFrame | None = None  # the latest frame added to ``running``


class GroupedMemory:
    """Per-video memory of the Cutie engine. See the module docstring for the policy."""

    def __init__(self, config: MemoryConfig) -> None:
        self.config = config
        self.groups: list[ObjectGroup] = []
        self._sums = _Sums()

    @property
    def empty(self) -> bool:
        return all(g.store.empty for g in self.groups)

    @property
    def object_ids(self) -> set[int]:
        """Ids of every object in a group."""
        return {i for g in self.groups for i in g.ids}

    def write(self, frame: MemoryFrame) -> None:
        """Add a memory frame to every group; objects without a group form a new one, whose
        first frame this is (kept permanently)."""
        new = [i for i in frame.ids if i not in self.object_ids]
        if new:
            self.groups.append(ObjectGroup(new, MemoryStore(self.config)))
        for group in self.groups:
            first = group.store.permanent.size == 0
            if first:
                group.first = frame
            self._add(group, frame, permanent=first)
        sums = self._sums.running
        for k, i in enumerate(frame.ids):
            sums[i] = frame.summaries[k] if i not in sums else sums[i] + frame.summaries[k]
        self._sums.last = frame

    def set_permanent(self, ids: Sequence[int], frames: Sequence[MemoryFrame]) -> None:
        """Make ``frames`` (values for every one of ``ids``) the permanent memory of every
        group, besides each group's own first frame. Objects without a group join one new
        group, or all of ``ids`` form a single group when nothing was written yet."""
        if all(g.first is None and g.store.size == g.store.permanent.size for g in self.groups):
            # nothing propagated yet: every object known so far forms one group
            self.groups = [ObjectGroup(list(ids), MemoryStore(self.config))]
        new = [i for i in ids if i not in self.object_ids]
        if new:
            self.groups.append(ObjectGroup(new, MemoryStore(self.config)))
        for group in self.groups:
            group.store.clear_permanent()
            for frame in frames:
                self._add(group, frame, permanent=True)
            if group.first is not None:
                self._add(group, group.first, permanent=True)
        sums: dict[int, torch.Tensor] = {}
        for frame in frames:
            for k, i in enumerate(frame.ids):
                sums[i] = frame.summaries[k] if i not in sums else sums[i] + frame.summaries[k]
        self._sums.permanent = sums

    def pop(self, tag: int) -> None:
        """Remove the newest non-permanent frame of every group if it was written with ``tag``
        (and its share of the object memories)."""
        popped = [g.store.pop_working(tag) for g in self.groups]
        last = self._sums.last
        if any(popped) and last is not None and last.tag == tag:
            for k, i in enumerate(last.ids):
                if i in self._sums.running:
                    self._sums.running[i] = self._sums.running[i] - last.summaries[k]
            self._sums.last = None

    def read(
        self, key: torch.Tensor, selection: torch.Tensor
    ) -> Iterator[tuple[ObjectGroup, torch.Tensor]]:
        """Each group with its readout ``(n, C_v, M)`` for query keys ``(C_k, M)``."""
        for group in self.groups:
            if not group.store.empty:
                yield group, group.store.read(key, selection=selection)[: len(group.ids)]

    def summaries(self, ids: Sequence[int]) -> torch.Tensor:
        """Object memories ``(n, Q, C + 1)`` of ``ids`` (objects in a group)."""
        out = []
        for i in ids:
            parts = [s[i] for s in (self._sums.permanent, self._sums.running) if i in s]
            out.append(parts[0] if len(parts) == 1 else parts[0] + parts[1])
        return torch.stack(out)

    def remove(self, object_id: int) -> None:
        """Forget ``object_id``; a group left without objects is dropped."""
        for group in self.groups:
            if object_id in group.ids:
                pos = group.ids.index(object_id)
                if pos < group.store.num_objects:
                    group.store.remove_object(pos)
                group.ids.remove(object_id)
        self.groups = [g for g in self.groups if g.ids]
        for sums in (self._sums.running, self._sums.permanent):
            sums.pop(object_id, None)

    def _add(self, group: ObjectGroup, frame: MemoryFrame, *, permanent: bool) -> None:
        group.store.add(
            frame.key,
            frame.rows(group.ids),
            shrinkage=frame.shrinkage,
            selection=frame.selection,
            permanent=permanent,
            tag=frame.tag,
        )
