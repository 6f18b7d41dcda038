"""Per-frame masks kept compressed in memory: a long video's propagated masks take a few
kilobytes per frame instead of ``H × W`` bytes."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, MutableMapping, Sequence

import numpy as np


class PackedMasks(MutableMapping[int, np.ndarray]):
    """Frame index → ``uint8 (H, W)`` mask, stored zlib-compressed.

    Reading gives a fresh array each time: change it and assign it back to store the
    change. :meth:`copy` is cheap (the compressed bytes are shared, being immutable).
    """

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = (int(size[0]), int(size[1]))
        self._data: dict[int, bytes] = {}

    def __getitem__(self, index: int) -> np.ndarray:
        raw = zlib.decompress(self._data[index])
        return np.frombuffer(raw, np.uint8).reshape(self.size).copy()

    def __setitem__(self, index: int, mask: np.ndarray) -> None:
        if mask.shape != self.size or mask.dtype != np.uint8:
            raise ValueError(f"expected a uint8 mask of shape {self.size}, got {mask.shape}")
        self._data[index] = zlib.compress(np.ascontiguousarray(mask).tobytes(), 1)

    def __delitem__(self, index: int) -> None:
        del self._data[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def nbytes(self) -> int:
        """Compressed size of every mask together."""
        return sum(len(b) for b in self._data.values())

    def copy(self) -> PackedMasks:
        other = PackedMasks(self.size)
        other._data = dict(self._data)
        return other


class MaskView(Sequence[np.ndarray]):
    """What every frame shows, frozen at one moment: the annotation where there is one,
    else the propagated mask, else an empty mask. ``uint8 (H, W)`` per frame, decoded on
    access, so a long video is never held uncompressed.

    ``annotations`` are kept as given: pass masks nothing else changes (the copies
    :attr:`vosam.Session.annotations` returns); ``results`` are copied (cheaply).
    """

    def __init__(
        self, length: int, annotations: dict[int, np.ndarray], results: PackedMasks
    ) -> None:
        self.length = length
        self.annotations = dict(annotations)
        self.results = results.copy()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        if not 0 <= index < self.length:
            raise IndexError(index)
        if index in self.annotations:
            return self.annotations[index]
        if index in self.results:
            return self.results[index]
        return np.zeros(self.results.size, np.uint8)
