"""Cutie's frame and mask preparation, and the way back to the frame's resolution.

As in Cutie's evaluation: frames whose shorter side exceeds ``size`` are shrunk to it
(RGB in ``[0, 1]``, bilinear with antialiasing; masks nearest, sampling pixel centres as
PIL does); smaller frames are kept. Then zero padding to a multiple of 16 (split evenly,
the extra pixel after) and only then ImageNet normalisation, so that padding holds
``-mean/std``. Outputs are cropped and resized back bilinearly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vosam.engines.xmem.preprocess import MEAN, STD, STRIDE, Geometry, restore
from vosam.ops.working_size import MAX_LONG_SIDE, working_size

__all__ = ["Geometry", "geometry", "prepare_image", "prepare_masks", "restore"]


def geometry(
    height: int, width: int, size: int, *, max_long_side: int | None = MAX_LONG_SIDE
) -> Geometry:
    """Geometry of a ``height × width`` frame: shrunk to shorter side ``size`` when its
    shorter side is longer (the longer side ``int(size · long / short)``, capped at
    ``max_long_side``; see :mod:`vosam.ops.working_size`), kept otherwise; ``size`` -1
    always keeps it."""
    if 0 < size < min(height, width):
        h, w = working_size((height, width), size, max_long_side=max_long_side, floor_long=True)
    else:
        h, w = height, width
    ph, pw = (-h) % STRIDE, (-w) % STRIDE
    return Geometry((height, width), (h, w), (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def prepare_image(
    image: np.ndarray, geo: Geometry, *, device: torch.device | str, antialias: bool = True
) -> torch.Tensor:
    """``uint8 (H, W, 3)`` RGB -> resized, padded, normalised ``float32 (1, 3, h', w')``."""
    if not (image.flags.writeable and image.flags.c_contiguous):
        image = np.array(image, order="C")  # torch wants a writable, contiguous buffer
    x = torch.from_numpy(image).to(device).permute(2, 0, 1).float().div(255)[None]
    if geo.resized != geo.size:
        x = F.interpolate(
            x, size=geo.resized, mode="bilinear", align_corners=False, antialias=antialias
        )
    x = F.pad(x, geo.pad)
    mean = torch.tensor(MEAN, device=x.device)[:, None, None]
    std = torch.tensor(STD, device=x.device)[:, None, None]
    return (x - mean) / std


def prepare_masks(masks: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """One-hot ``(O, H, W)`` -> resized (nearest, pixel centres), padded ``(O, h', w')``."""
    if geo.resized != geo.size:
        if masks.shape[0] > 0:
            masks = F.interpolate(masks[None], size=geo.resized, mode="nearest-exact")[0]
        else:
            masks = masks.new_zeros(0, *geo.resized)
    return F.pad(masks, geo.pad)
