"""Object slots: which tensor position holds which user object inside one tracker.

A user's object id (1..254) never changes; the position of that object in an engine's
tensors (memory values, hidden state, head outputs) is temporary and shifts when an object
before it is removed. Every tracker keeps that map in an :class:`ObjectSlots`, so adding,
removing and reordering work the same way in every engine.

Two orders exist, because the engines grow their tensors differently:

- ``"entry"``: a new id takes the next free position at the end (XMem's memory and hidden
  state grow by appending, so earlier slots must not move);
- ``"sorted"``: positions follow increasing ids (the embedded engine rebuilds its head and
  per-object tensors whenever the object list changes).

Results handed to callers are always in increasing id order (:attr:`ObjectSlots.sorted_ids`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np

from vosam.objects import VOID_ID

__all__ = ["ObjectSlots"]


class ObjectSlots:
    """User ids in slot order.

    Args:
        order: ``"entry"`` (new ids go last) or ``"sorted"`` (slots in increasing id order).
    """

    def __init__(self, order: Literal["entry", "sorted"] = "entry") -> None:
        if order not in ("entry", "sorted"):
            raise ValueError(f"slot order is 'entry' or 'sorted', got {order!r}")
        self.order = order
        self._ids: list[int] = []

    @property
    def ids(self) -> tuple[int, ...]:
        """User ids, the one in slot 0 first."""
        return tuple(self._ids)

    @property
    def sorted_ids(self) -> tuple[int, ...]:
        """User ids in increasing order (the order of every tracker's results)."""
        return tuple(sorted(self._ids))

    def add(self, object_ids: list[int] | tuple[int, ...]) -> tuple[int, ...]:
        """Give slots to the ids not held yet; returns those, increasing.

        With ``"entry"`` order, new ids take the next slots in increasing id order.
        """
        new = sorted({int(i) for i in object_ids} - set(self._ids))
        for i in new:
            if not 0 < i < VOID_ID:
                raise ValueError(f"object ids are 1..254, got {i}")
        if new:
            self._ids.extend(new)
            if self.order == "sorted":
                self._ids.sort()
        return tuple(new)

    def add_from(self, mask: np.ndarray) -> tuple[int, ...]:
        """:meth:`add` the ids found in ``mask (H, W)``; 0 (background) and 255 (void) are
        not objects."""
        found = [i for i in np.unique(mask).tolist() if 0 < i < VOID_ID]
        return self.add(found)

    def slot(self, object_id: int) -> int:
        """The current position of ``object_id``.

        Raises:
            KeyError: the id has no slot.
        """
        try:
            return self._ids.index(object_id)
        except ValueError:
            raise KeyError(f"object {object_id} is not tracked") from None

    def remove(self, object_id: int) -> int:
        """Free the slot of ``object_id`` and return it; later slots move down by one.

        Raises:
            KeyError: the id has no slot.
        """
        slot = self.slot(object_id)
        del self._ids[slot]
        return slot

    def by_id(self) -> list[int]:
        """Slots in increasing order of their ids: ``ids[s]`` increases along the list."""
        return sorted(range(len(self._ids)), key=self._ids.__getitem__)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._ids

    def __iter__(self) -> Iterator[int]:
        return iter(tuple(self._ids))

    def __repr__(self) -> str:
        return f"ObjectSlots({self.order!r}, ids={self._ids})"
