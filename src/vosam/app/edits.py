"""What the user made of a video's frames, and the history that undoes and redoes it.

A frame holds at most one piece of the user's work (:class:`Work`):

- an **annotation**: the frame's ground truth, one of the :class:`vosam.Session`'s
  annotations, which propagation puts in permanent memory;
- a **correction**: the user's fix of a propagated frame, shown and exported for that frame
  only, never given to propagation, until the user makes it an annotation.

A click, box, brush or erase stroke on a frame that was propagated corrects it; on a frame
that was not (or that is annotated) it annotates it. Each request that changes the work is
one :class:`Change` in the session's :class:`History`: the work of every frame it touched
and the objects before and after, so undo and redo restore exactly what was there. The
propagated masks are not the user's work and are not in the history.
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ANNOTATION = "annotation"
CORRECTION = "correction"
MAX_CHANGES = 100  # changes kept for undo
MAX_BYTES = 64 * 1024 * 1024  # compressed masks kept for undo and redo, at most


@dataclass(frozen=True)
class Work:
    """The user's work on one frame: ``kind`` (:data:`ANNOTATION` or :data:`CORRECTION`)
    and its mask, kept zlib-compressed."""

    kind: str
    packed: bytes
    shape: tuple[int, int]

    @classmethod
    def of(cls, kind: str, mask: np.ndarray) -> Work:
        """``mask``: ``uint8 (H, W)`` ids."""
        mask = np.ascontiguousarray(mask, np.uint8)
        return cls(kind, zlib.compress(mask.tobytes(), 1), (mask.shape[0], mask.shape[1]))

    def mask(self) -> np.ndarray:
        """A fresh ``uint8 (H, W)`` copy of the mask."""
        raw = zlib.decompress(self.packed)
        return np.frombuffer(raw, np.uint8).reshape(self.shape).copy()


@dataclass(frozen=True)
class Change:
    """One undoable change.

    Attributes:
        label: what the user did, for the page (``click on frame 3``).
        frames: frame index → its work ``(before, after)``; None: no work (the frame shows
            its propagated mask, or nothing).
        objects: object id → name, ``(before, after)``.
        prompt: for clicks and boxes: ``{"frame", "object", "points", "labels", "box"}``,
            the prompt the page had sent, so that undo and redo give the page back its
            clicks.
    """

    label: str
    frames: dict[int, tuple[Work | None, Work | None]]
    objects: tuple[dict[int, str], dict[int, str]]
    prompt: dict[str, Any] | None = None

    @property
    def nbytes(self) -> int:
        return sum(len(w.packed) for pair in self.frames.values() for w in pair if w is not None)

    @property
    def empty(self) -> bool:
        """Changes nothing."""
        before, after = self.objects
        return before == after and all(b == a for b, a in self.frames.values())


@dataclass
class History:
    """Undo and redo stacks, bounded to ``most`` changes and ``most_bytes`` of masks (the
    oldest changes go first)."""

    most: int = MAX_CHANGES
    most_bytes: int = MAX_BYTES
    _undo: deque[Change] = field(default_factory=deque)
    _redo: list[Change] = field(default_factory=list)

    def record(self, change: Change) -> None:
        """``change`` was made: it can be undone; what was undone can no longer be redone."""
        self._undo.append(change)
        self._redo.clear()
        total = sum(c.nbytes for c in self._undo)
        while len(self._undo) > self.most or (total > self.most_bytes and len(self._undo) > 1):
            total -= self._undo.popleft().nbytes

    def undo(self) -> Change | None:
        """The newest change, moved to the redo stack; None when there is none."""
        if not self._undo:
            return None
        change = self._undo.pop()
        self._redo.append(change)
        return change

    def redo(self) -> Change | None:
        """The change undone last, moved back to the undo stack; None when there is none."""
        if not self._redo:
            return None
        change = self._redo.pop()
        self._undo.append(change)
        return change

    @property
    def newest(self) -> Change | None:
        """The change the next undo undoes."""
        return self._undo[-1] if self._undo else None

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "undo": self._undo[-1].label if self._undo else None,
            "redo": self._redo[-1].label if self._redo else None,
            "depth": len(self._undo),
        }
