"""Ordering names as people count: ``frame2`` before ``frame10``.

Frame readers, dataset readers and the evaluator all sort file names with this one key, so
a video's frames and its masks always line up. Only the standard library is used.
"""

from __future__ import annotations

import re

__all__ = ["natural_key", "natural_sorted"]

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str, int], ...]:
    """Sort key putting ``frame2`` before ``frame10``: digit runs compare as numbers.

    Text runs compare case-insensitively; equal numbers with different zero padding
    (``1`` vs ``01``) are ordered by length, so the order is total and stable.
    """
    parts: list[tuple[int, int | str, int]] = []
    for k, run in enumerate(_DIGITS.split(name)):
        if k % 2:
            parts.append((1, int(run), len(run)))
        elif run:
            parts.append((0, run.casefold(), 0))
    parts.append((2, name, 0))
    return tuple(parts)


def natural_sorted(names: list[str]) -> list[str]:
    """``names`` in natural order (see :func:`natural_key`)."""
    return sorted(names, key=natural_key)
