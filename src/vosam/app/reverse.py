"""A video played backwards, so that backward propagation is forward propagation of a
:class:`~vosam.Session` over the reversed frames."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vosam.io import FrameSource


class ReversedSource(FrameSource):
    """Frame ``i`` of this source is frame ``len - 1 - i`` of ``source``.

    Iterating decodes each frame by random access (:meth:`FrameSource.read`), which for a
    video file seeks backwards from keyframes; fine for the lengths the app accepts.
    """

    def __init__(self, source: FrameSource) -> None:
        super().__init__(source.path, tuple(reversed(source.names)), source.size)
        self.inner = source

    def flip(self, index: int) -> int:
        """Index in the other direction (the mapping is its own inverse)."""
        return len(self) - 1 - index

    def read(self, index: int) -> np.ndarray:
        return self.inner.read(self.flip(self._check_index(index)))

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        start, stop = self._span(start, stop)
        for index in range(start, stop):
            yield index, self.read(index)

    def source_file(self, index: int) -> str:
        return self.inner.source_file(self.flip(self._check_index(index)))

    def close(self) -> None:
        self.inner.close()
