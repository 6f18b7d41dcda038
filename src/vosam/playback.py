"""Playing orders of a video and the frames a propagation yields.

A propagation plays frames in an :class:`Order` and yields one :class:`Step` per frame
played. The tracker knows a played frame by its ``step``: the frame index when every frame
is played once (forward, backward), the position in the playing order with ×3, where a
frame is played up to three times. A frame's first visit is always the step equal to its
index (×3 starts with a whole forward pass), so annotations, permanent memory and prompts
are given at the frame's own index in every order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from vosam.engines.base import StepResult

__all__ = ["DIRECTIONS", "MERGES", "Order", "Step", "x3_order"]

DIRECTIONS = ("forward", "backward", "both")
"""What ``Session.propagate(direction=...)`` takes: one order, or both as one run."""

MERGES = ("nearest", "confidence")
"""How a run of both directions makes one result of the two passes on a frame between two
annotated frames (see :mod:`vosam.passes`)."""


def x3_order(n: int) -> list[int]:
    """Frame indices of the ×3 protocol: ``0..n-1``, ``n-2..0``, ``1..n-1`` (3n − 2)."""
    if n < 2:
        return list(range(n)) * 3
    return list(range(n)) + list(range(n - 2, -1, -1)) + list(range(1, n))


class Order(enum.Enum):
    """How the frames of a video are played.

    ``FORWARD``: ``start..stop-1``. ``BACKWARD``: ``stop-1`` down to ``start``. ``X3``: the
    Long-time Video protocol over the whole video, forward, backward and forward again
    (:func:`x3_order`), so that memory must last three times as long.
    """

    FORWARD = "forward"
    BACKWARD = "backward"
    X3 = "x3"

    def plays(self, n: int, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
        """``(step, frame index)`` of every frame played of a video of ``n`` frames.

        Raises:
            ValueError: ``X3`` with a ``start`` or ``stop`` inside the video.
        """
        stop = n if stop is None else min(stop, n)
        start = max(start, 0)
        if self is Order.X3:
            if (start, stop) != (0, n):
                raise ValueError("the ×3 order plays the whole video: no start or stop")
            return list(enumerate(x3_order(n)))
        indices = range(start, stop) if self is Order.FORWARD else range(stop - 1, start - 1, -1)
        return [(i, i) for i in indices]

    def rank(self, step: int) -> int:
        """A number that grows with playing time, for comparing steps: which comes first."""
        return -step if self is Order.BACKWARD else step


@dataclass(frozen=True)
class Step:
    """One frame played.

    Attributes:
        step: the tracker's frame index (see the module's text): the frame index, or with
            ×3 the position in the playing order.
        index: the frame's index in the video.
        image: the decoded frame, ``uint8 (H, W, 3)`` RGB.
        result: its segmentation, with every object of the session.
    """

    step: int
    index: int
    image: np.ndarray
    result: StepResult

    @property
    def mask(self) -> np.ndarray:
        """``uint8 (H, W)`` object ids of :attr:`result`."""
        return self.result.mask
