"""Object identity: user ids and names, independent of engine tensor slots."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_OBJECT_ID = 254  # 0 is background, 255 is void in DAVIS palettes
VOID_ID = 255
"""Pixels of this id are void (DAVIS borders, YouTube-VOS ignore regions): no object."""


@dataclass
class ObjectRegistry:
    """The objects of one video: user id → name. Ids never change or get renumbered."""

    names: dict[int, str] = field(default_factory=dict)

    @property
    def ids(self) -> tuple[int, ...]:
        """User ids in increasing order."""
        return tuple(sorted(self.names))

    def add(self, object_id: int, name: str | None = None) -> int:
        """Register ``object_id`` (1..254); re-adding keeps the id and updates the name."""
        if not 1 <= object_id <= MAX_OBJECT_ID:
            raise ValueError(f"object id must be in 1..{MAX_OBJECT_ID}, got {object_id}")
        self.names[object_id] = name or self.names.get(object_id) or f"object {object_id}"
        return object_id

    def next_id(self) -> int:
        """Smallest unused id."""
        used = set(self.names)
        return next(i for i in range(1, MAX_OBJECT_ID + 1) if i not in used)

    def remove(self, object_id: int) -> None:
        if object_id not in self.names:
            raise KeyError(f"no object with id {object_id}")
        del self.names[object_id]

    def __contains__(self, object_id: object) -> bool:
        return object_id in self.names

    def __len__(self) -> int:
        return len(self.names)
