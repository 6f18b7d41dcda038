"""Label propagation at stride 8 over local windows that follow the motion.

Each query tile (``tile × tile`` cells) reads, from every memory frame, the window of
``(tile + 2·radius)²`` cells around where that tile's content was in that frame: the
frame's cells are carried along the dense flow composed since it was written, so a fast
object stays inside the window that reads it. Each query cell takes the softmax-weighted
mean of the values of its ``top_k`` most similar cells over all windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# similarity of a window cell that lies outside the frame: never among the top k
OUTSIDE = -1e4


@dataclass
class Entry:
    """A memory frame.

    Attributes:
        index: its frame index.
        key: ``(C, h, w)`` unit keys.
        values: ``(N + 1, h, w)`` background and object probabilities.
        position: ``(2, h, w)`` where each cell of the current frame was in this frame (x, y
            in cells), or None where no flow links them (the same place is assumed).
        permanent: an annotated frame, never evicted.
    """

    index: int
    key: torch.Tensor
    values: torch.Tensor
    position: torch.Tensor | None
    permanent: bool
    # the windows last read: (shift (L, 2), keys and values (L, C + N + 1, W²), inside flags)
    windows: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None


class WindowMemory:
    """Annotated frames and the last ``recent`` propagated frames, read through local
    windows (see the module's docstring)."""

    def __init__(self, size: tuple[int, int], *, radius: int, tile: int, recent: int) -> None:
        self.h, self.w = size
        self.radius, self.tile, self.recent = radius, tile, recent
        self.tiles_y, self.tiles_x = math.ceil(self.h / tile), math.ceil(self.w / tile)
        self.entries: list[Entry] = []
        ys, xs = torch.meshgrid(
            torch.arange(self.h, dtype=torch.float32),
            torch.arange(self.w, dtype=torch.float32),
            indexing="ij",
        )
        self.grid = torch.stack([xs, ys])
        span = torch.arange(-radius, tile + radius)
        self._dy, self._dx = torch.meshgrid(span, span, indexing="ij")
        top = torch.arange(self.tiles_y) * tile
        left = torch.arange(self.tiles_x) * tile
        self._top, self._left = torch.meshgrid(top, left, indexing="ij")

    # -- contents ------------------------------------------------------------------------

    def add(
        self,
        index: int,
        key: torch.Tensor,
        values: torch.Tensor,
        *,
        permanent: bool,
        linked: bool = True,
    ) -> None:
        """Write frame ``index``; ``linked``: it is the frame being played (flow from the next
        frames reaches it), else it is an annotation read at its own place until played."""
        for entry in self.entries:
            if permanent and entry.permanent and entry.index == index:
                self.entries.remove(entry)  # an annotated frame written again: replace it
                break
        position = self.grid.clone() if linked else None
        self.entries.append(Entry(index, key, values, position, permanent))
        kept = [e for e in self.entries if not e.permanent]
        for entry in kept[: max(0, len(kept) - self.recent)]:
            self.entries.remove(entry)

    def link(self, index: int) -> None:
        """Frame ``index`` (a permanent entry) is being played: flow composes from here."""
        for entry in self.entries:
            if entry.index == index:
                entry.position = self.grid.clone()

    def advance(self, backward: torch.Tensor | None) -> None:
        """A new frame: ``backward (2, h, w)`` is where its cells were in the previous frame
        (in cells), None when unknown (the entries' positions are then left as they are)."""
        if backward is None:
            return
        where = self.grid + backward
        for entry in self.entries:
            if entry.position is not None:
                entry.position = _sample(entry.position, where)

    def insert_object(self, slot: int) -> None:
        """A new object at value channel ``slot + 1``: absent from every memory frame."""
        for entry in self.entries:
            zero = torch.zeros_like(entry.values[:1])
            entry.values = torch.cat([entry.values[: slot + 1], zero, entry.values[slot + 1 :]])
            entry.windows = None

    def remove_object(self, slot: int) -> None:
        """Forget the object at value channel ``slot + 1``: its cells become background."""
        for entry in self.entries:
            v = entry.values
            background = v[:1] + v[slot + 1 : slot + 2]
            entry.values = torch.cat([background, v[1 : slot + 1], v[slot + 2 :]])
            entry.windows = None

    # -- readout -------------------------------------------------------------------------

    def read(self, query: torch.Tensor, *, top_k: int, temperature: float) -> torch.Tensor:
        """``(N + 1, h, w)`` values read for ``query (C, h, w)`` unit keys (columns sum to
        one)."""
        tiles = self._tiles(query)
        scores, values = [], []
        for entry in self.entries:
            both, valid = self._entry_windows(entry, self._shift(entry.position))
            keys, vals = both[:, : entry.key.shape[0]], both[:, entry.key.shape[0] :]
            scores.append(torch.bmm(tiles, keys).masked_fill_(~valid, OUTSIDE))
            values.append(vals)
        score = torch.cat(scores, -1)
        value = torch.cat(values, -1)
        k = min(top_k, score.shape[-1])
        top, index = score.topk(k, dim=-1)  # (L, T², k)
        weight = torch.softmax(top / temperature, -1)
        count, channels, _ = value.shape
        cells = tiles.shape[1]
        picked = torch.gather(
            value.unsqueeze(2).expand(count, channels, cells, value.shape[-1]),
            3,
            index.unsqueeze(1).expand(count, channels, cells, k),
        )
        out = self._untile((picked * weight.unsqueeze(1)).sum(-1))
        return out / out.sum(0, keepdim=True).clamp(min=1e-6)

    def _shift(self, position: torch.Tensor | None) -> torch.Tensor:
        """``(L, 2)`` integer (x, y) shift of each tile's window: the mean displacement of
        its cells."""
        if position is None:
            return torch.zeros(self.tiles_y * self.tiles_x, 2, dtype=torch.long)
        pad = (0, self.tiles_x * self.tile - self.w, 0, self.tiles_y * self.tile - self.h)
        moved = F.pad(position - self.grid, pad)
        inside = F.pad(torch.ones(1, self.h, self.w), pad)
        total = F.avg_pool2d(moved[None], self.tile)[0]
        share = F.avg_pool2d(inside[None], self.tile)[0]
        mean = total / share.clamp(min=1e-6)
        return mean.round().long().reshape(2, -1).T

    def _entry_windows(
        self, entry: Entry, shift: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(L, C + N + 1, W²)`` windows of an entry's keys and values at ``shift`` and
        their ``(L, 1, W²)`` inside-the-frame flags. The last windows read are kept: only
        the tiles whose shift changed since are gathered again (the same numbers)."""
        if entry.windows is None:
            packed = torch.cat([entry.key, entry.values]).reshape(-1, self.h * self.w)
            tiles = torch.arange(shift.shape[0])
            windows, valid = self._windows(packed, shift, tiles)
            entry.windows = (shift, windows, valid)
            return windows, valid
        previous, windows, valid = entry.windows
        changed = (shift != previous).any(1).nonzero().squeeze(1)
        if changed.numel():
            packed = torch.cat([entry.key, entry.values]).reshape(-1, self.h * self.w)
            windows[changed], valid[changed] = self._windows(packed, shift[changed], changed)
            entry.windows = (shift, windows, valid)
        return windows, valid

    def _windows(
        self, packed: torch.Tensor, shift: torch.Tensor, tiles: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``packed (C, h·w)`` → ``(l, C, W²)`` windows of the ``l`` tiles ``tiles`` shifted
        by ``shift (l, 2)``, and their ``(l, 1, W²)`` inside-the-frame flags."""
        top = self._top.reshape(-1)[tiles].reshape(-1, 1, 1)
        left = self._left.reshape(-1)[tiles].reshape(-1, 1, 1)
        rows = top + shift[:, 1].reshape(-1, 1, 1) + self._dy[None]
        cols = left + shift[:, 0].reshape(-1, 1, 1) + self._dx[None]
        valid = (rows >= 0) & (rows < self.h) & (cols >= 0) & (cols < self.w)
        flat = rows.clamp(0, self.h - 1) * self.w + cols.clamp(0, self.w - 1)
        count = flat.shape[0]
        windows = packed.index_select(1, flat.reshape(-1)).reshape(packed.shape[0], count, -1)
        return windows.permute(1, 0, 2).contiguous(), valid.reshape(count, 1, -1)

    def _tiles(self, q: torch.Tensor) -> torch.Tensor:
        """``(C, h, w)`` → ``(L, tile², C)``."""
        channels, t = q.shape[0], self.tile
        padded = F.pad(q, (0, self.tiles_x * t - self.w, 0, self.tiles_y * t - self.h))
        blocks = padded.reshape(channels, self.tiles_y, t, self.tiles_x, t)
        return blocks.permute(1, 3, 2, 4, 0).reshape(-1, t * t, channels)

    def _untile(self, out: torch.Tensor) -> torch.Tensor:
        """``(L, V, tile²)`` → ``(V, h, w)``."""
        t, channels = self.tile, out.shape[1]
        blocks = out.reshape(self.tiles_y, self.tiles_x, channels, t, t)
        full = blocks.permute(2, 0, 3, 1, 4).reshape(channels, self.tiles_y * t, self.tiles_x * t)
        return full[:, : self.h, : self.w]


def _sample(x: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """``x (C, h, w)`` sampled bilinearly at ``where (2, h, w)`` (x, y in cells; borders
    clamped)."""
    _, h, w = x.shape
    gx = (where[0] + 0.5) / w * 2 - 1
    gy = (where[1] + 0.5) / h * 2 - 1
    grid = torch.stack([gx, gy], -1)[None]
    return F.grid_sample(
        x[None], grid, mode="bilinear", padding_mode="border", align_corners=False
    )[0]
