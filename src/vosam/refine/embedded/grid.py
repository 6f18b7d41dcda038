"""The feature grid of one image and the conversions between it and image pixels.

The backbone sees the image scaled to ``input (h_in, w_in)`` and answers on a grid of
``(gh, gw) = ceil(input / 8)`` cells; the last row and column may reach past the image
(replicate padding). Cell ``(i, j)`` covers image pixels ``[8 j / sx, 8 (j + 1) / sx)`` across
and likewise down, with ``sx = w_in / W`` and ``sy = h_in / H``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

STRIDE = 8


@dataclass(frozen=True)
class Grid:
    """Geometry of the stride-8 grid of an image.

    Attributes:
        size: ``(H, W)`` of the image.
        input_size: ``(h_in, w_in)`` the backbone saw.
        shape: ``(gh, gw)`` of the grid.
    """

    size: tuple[int, int]
    input_size: tuple[int, int]
    shape: tuple[int, int]

    @classmethod
    def of(cls, size: tuple[int, int], input_size: tuple[int, int]) -> Grid:
        shape = (math.ceil(input_size[0] / STRIDE), math.ceil(input_size[1] / STRIDE))
        return cls(size=tuple(size), input_size=tuple(input_size), shape=shape)

    @property
    def cell(self) -> tuple[float, float]:
        """``(cell_h, cell_w)`` of one cell in image pixels."""
        return (
            STRIDE * self.size[0] / self.input_size[0],
            STRIDE * self.size[1] / self.input_size[1],
        )

    def to_cells(self, xy: np.ndarray) -> np.ndarray:
        """Image pixel coordinates ``(P, 2)`` ``(x, y)`` → continuous grid coordinates.

        Pixel ``x`` covers ``[x, x + 1)``, so its centre is ``x + 0.5``; a cell's centre is at
        ``j + 0.5`` in grid coordinates.
        """
        ch, cw = self.cell
        xy = np.asarray(xy, np.float32).reshape(-1, 2)
        return np.stack([(xy[:, 0] + 0.5) / cw, (xy[:, 1] + 0.5) / ch], 1)

    def pool(self, image_map: np.ndarray) -> np.ndarray:
        """Mean of ``image_map float32 (H, W)`` over each cell → ``(gh, gw)``."""
        gh, gw = self.shape
        ch, cw = self.cell
        ph, pw = round(gh * ch), round(gw * cw)
        h, w = self.size
        padded = cv2.copyMakeBorder(
            np.ascontiguousarray(image_map, np.float32),
            0,
            max(0, ph - h),
            0,
            max(0, pw - w),
            cv2.BORDER_REPLICATE,
        )[:ph, :pw]
        return cv2.resize(padded, (gw, gh), interpolation=cv2.INTER_AREA)

    def to_input(self, grid_map: np.ndarray) -> np.ndarray:
        """``(gh, gw)`` cell values → ``(h_in, w_in)`` map over the image, bilinear."""
        gh, gw = self.shape
        up = cv2.resize(
            np.ascontiguousarray(grid_map, np.float32),
            (gw * STRIDE, gh * STRIDE),
            interpolation=cv2.INTER_LINEAR,
        )
        return up[: self.input_size[0], : self.input_size[1]]

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Grid coordinates of the cell centres: ``(gx (gh, gw), gy (gh, gw))``."""
        gh, gw = self.shape
        gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32) + 0.5
        return gx, gy
