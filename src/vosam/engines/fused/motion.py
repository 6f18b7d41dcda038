"""Dense optical flow between consecutive frames (OpenCV's DIS), on the stride-8 grid."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class FlowField:
    """DIS optical flow (medium preset) of frames at half the backbone's input size.

    ``backward(image, size)`` returns, for each stride-8 cell of the current frame, where
    it was in the previous frame given to it, as ``(2, h8, w8)`` offsets (x, y) in cells.
    """

    def __init__(self) -> None:
        import cv2

        self._cv2 = cv2
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._previous: np.ndarray | None = None

    def gray(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``uint8`` grey frame at half of ``size (h, w)``, the backbone's input size."""
        cv2 = self._cv2
        h, w = max(8, size[0] // 2), max(8, size[1] // 2)
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)

    def reset(self, gray: np.ndarray | None = None) -> None:
        """Forget the previous frame (or make ``gray`` the previous frame)."""
        self._previous = gray

    def backward(self, gray: np.ndarray, cells: tuple[int, int]) -> torch.Tensor | None:
        """Flow from ``gray`` to the previous frame on a ``cells (h8, w8)`` grid (None when
        there is no previous frame of the same size); ``gray`` becomes the previous one."""
        previous, self._previous = self._previous, gray
        if previous is None or previous.shape != gray.shape:
            return None
        flow = self._dis.calc(gray, previous, None)
        return to_cells(flow, cells)


def to_cells(flow: np.ndarray, cells: tuple[int, int]) -> torch.Tensor:
    """``(h, w, 2)`` flow in pixels → ``(2, h8, w8)`` flow in cells of a ``cells`` grid
    (area-averaged when the grid is coarser, bilinear otherwise)."""
    f = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1)
    h, w = f.shape[-2:]
    h8, w8 = cells
    if h8 < h and w8 < w:
        f = F.adaptive_avg_pool2d(f[None], cells)[0]
    else:
        f = F.interpolate(f[None], size=cells, mode="bilinear", align_corners=False)[0]
    f[0] *= w8 / w
    f[1] *= h8 / h
    return f
