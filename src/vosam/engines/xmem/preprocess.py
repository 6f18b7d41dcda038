"""XMem's frame and mask preparation, and the way back to the frame's resolution.

Images: RGB ``uint8`` -> ``[0, 1]`` -> ImageNet mean/std -> bilinear resize so the shorter
side is ``size`` -> zero padding (split evenly, the extra pixel after) to a multiple of 16.
Masks: one-hot per object -> nearest resize -> the same padding. Outputs are cropped and
resized back bilinearly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vosam.ops.working_size import MAX_LONG_SIDE, working_size

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
STRIDE = 16


@dataclass(frozen=True)
class Geometry:
    """Where a frame's pixels are in the network input.

    Attributes:
        size: ``(H, W)`` of the original frame.
        resized: ``(h, w)`` after resizing (before padding).
        pad: ``(left, right, top, bottom)`` padding added after resizing.
    """

    size: tuple[int, int]
    resized: tuple[int, int]
    pad: tuple[int, int, int, int]

    @property
    def padded(self) -> tuple[int, int]:
        """``(h, w)`` of the network input."""
        left, right, top, bottom = self.pad
        return self.resized[0] + top + bottom, self.resized[1] + left + right


def geometry(
    height: int, width: int, size: int, *, max_long_side: int | None = MAX_LONG_SIDE
) -> Geometry:
    """Geometry of a ``height × width`` frame resized to shorter side ``size`` (-1: kept),
    the longer side capped at ``max_long_side`` (:mod:`vosam.ops.working_size`)."""
    if size < 0:
        h, w = height, width
    else:
        h, w = working_size((height, width), size, max_long_side=max_long_side, floor_long=True)
    ph, pw = (-h) % STRIDE, (-w) % STRIDE
    return Geometry((height, width), (h, w), (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def prepare_image(
    image: np.ndarray, geo: Geometry, *, device: torch.device | str, antialias: bool = True
) -> torch.Tensor:
    """``uint8 (H, W, 3)`` RGB -> normalised, resized, padded ``float32 (1, 3, h', w')``."""
    if not (image.flags.writeable and image.flags.c_contiguous):
        image = np.array(image, order="C")  # torch wants a writable, contiguous buffer
    x = torch.from_numpy(image).to(device)
    x = x.permute(2, 0, 1).float().div(255)
    mean = torch.tensor(MEAN, device=x.device)[:, None, None]
    std = torch.tensor(STD, device=x.device)[:, None, None]
    x = ((x - mean) / std)[None]
    if geo.resized != geo.size:
        x = F.interpolate(
            x, size=geo.resized, mode="bilinear", align_corners=False, antialias=antialias
        )
    return F.pad(x, geo.pad)


def prepare_masks(masks: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """One-hot ``(O, H, W)`` -> nearest-resized, padded ``(O, h', w')``."""
    if geo.resized != geo.size and masks.shape[0] > 0:
        masks = F.interpolate(masks[None], size=geo.resized, mode="nearest")[0]
    elif geo.resized != geo.size:
        masks = masks.new_zeros(0, *geo.resized)
    return F.pad(masks, geo.pad)


def restore(prob: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """Network-resolution ``(K, h', w')`` -> frame-resolution ``(K, H, W)`` (crop, bilinear)."""
    left, _, top, _ = geo.pad
    h, w = geo.resized
    prob = prob[:, top : top + h, left : left + w]
    if geo.resized != geo.size:
        prob = F.interpolate(prob[:, None], size=geo.size, mode="bilinear", align_corners=False)
        prob = prob[:, 0]
    return prob
