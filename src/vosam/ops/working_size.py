"""The resolution engines work at: one rule for every engine and for discovery.

A frame is scaled so that its shorter side has ``short_side`` pixels, unless its longer
side would then exceed ``max_long_side``; then it is scaled so that its longer side has
``max_long_side`` pixels (and the shorter side is smaller than ``short_side``). Ordinary
frames are not affected by the cap: at the default 480 / 1,024 an 854×480 or 480×853 frame
works at 854×480, a 432×240 one at 864×480, and only frames wider than about 2.13:1 are
capped (a 2000×100 frame works at 1024×51 instead of 9600×480).
"""

from __future__ import annotations

__all__ = ["MAX_LONG_SIDE", "working_size"]

MAX_LONG_SIDE = 1024
"""Default cap of the longer side of the working resolution, in pixels."""


def working_size(
    size: tuple[int, int],
    short_side: int,
    *,
    max_long_side: int | None = MAX_LONG_SIDE,
    floor_long: bool = False,
) -> tuple[int, int]:
    """Working ``(h, w)`` of a frame of ``size (H, W)``.

    Args:
        size: the frame's ``(H, W)``.
        short_side: the shorter side's target.
        max_long_side: cap of the longer side (None: no cap).
        floor_long: the longer side is ``int(short_side * long / short)`` (XMem's rule)
            instead of ``round(long * short_side / short)``.
    """
    h, w = int(size[0]), int(size[1])
    short, long = min(h, w), max(h, w)
    if floor_long:
        new_short, new_long = short_side, int(short_side * long / short)
    else:
        s = short_side / short
        new_short, new_long = round(short * s), round(long * s)
    if max_long_side is not None and new_long > max_long_side:
        new_short, new_long = max(1, round(short * max_long_side / long)), max_long_side
    return (new_short, new_long) if h <= w else (new_long, new_short)
