"""Frozen EfficientNet-Lite0 features of a frame, for matching and for the per-video head."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vosam.backbones.efficientnet_lite import LITE_MEAN, LITE_STD, EfficientNetLite, load_lite0
from vosam.ops.working_size import MAX_LONG_SIDE, working_size


@dataclass(frozen=True)
class FrameFeatures:
    """Features of one frame.

    Attributes:
        key: ``(C_k, h16, w16)`` L2-normalised matching key at stride 16.
        dense: ``(C_d, h8, w8)`` per-block L2-normalised features at stride 8 (head input).
    """

    key: torch.Tensor
    dense: torch.Tensor


def _l2n(x: torch.Tensor) -> torch.Tensor:
    return x / (x.norm(dim=0, keepdim=True) + 1e-6)


def _l2n_into(x: torch.Tensor, out: torch.Tensor) -> None:
    """Write ``x (C, h, w)`` divided by its per-pixel norm into ``out (h, w, C)``."""
    pixels = x.permute(1, 2, 0)
    torch.div(pixels, pixels.norm(dim=2, keepdim=True).add_(1e-6), out=out)


def _resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]


class FeatureExtractor:
    """Runs the backbone (BatchNorm folded) and assembles keys and dense features."""

    def __init__(
        self, device: torch.device, short_side: int, *, max_long_side: int | None = MAX_LONG_SIDE
    ) -> None:
        self.device = device
        self.short_side = short_side
        self.max_long_side = max_long_side
        # channels-last runs the depthwise convolutions markedly faster on CPU
        self.net: EfficientNetLite = (
            load_lite0().fold_batchnorm().to(device).to(memory_format=torch.channels_last)
        )
        # on 0..255 pixels
        self.mean = (torch.tensor(LITE_MEAN, dtype=torch.float64) * 255).float().to(device)
        self.std = (torch.tensor(LITE_STD, dtype=torch.float64) * 255).float().to(device)

    def input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Backbone input ``(h, w)`` for a frame of ``size (H, W)``: shorter side scaled to
        ``short_side`` unless the longer would exceed ``max_long_side``
        (:func:`vosam.ops.working_size.working_size`); at least 32 pixels each."""
        h, w = working_size(size, self.short_side, max_long_side=self.max_long_side)
        return max(32, h), max(32, w)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> FrameFeatures:
        """Features of ``image uint8 (H, W, 3)`` RGB."""
        h, w = self.input_size(image.shape[:2])
        ph, pw = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
        if (h, w) == image.shape[:2]:
            # replicate-pad the 8-bit pixels, then normalise once: (1, H, W, 3) is the
            # channels-last layout of (1, 3, H, W), so no other copy is made
            pixels = np.asarray(image, dtype=np.uint8)
            padded = np.pad(pixels, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            x = torch.from_numpy(padded).to(self.device)[None].float()
            x = x.sub_(self.mean).div_(self.std).permute(0, 3, 1, 2)
        else:
            x = torch.from_numpy(np.array(image, dtype=np.uint8)).to(self.device)
            x = x.permute(2, 0, 1).float().div_(255)
            x = F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False)[0]
            x = (x - self.mean.reshape(3, 1, 1) / 255) / (self.std.reshape(3, 1, 1) / 255)
            x = F.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
            x = x[None].contiguous(memory_format=torch.channels_last)
        feats = self.net.features(x, last_level=32)
        h8, w8 = math.ceil(h / 8), math.ceil(w / 8)
        h16, w16 = math.ceil(h / 16), math.ceil(w / 16)
        f8 = feats[8][0, :, :h8, :w8]
        f16 = feats[16][0, :, :h16, :w16]
        f32 = feats[32][0]
        f32 = f32[:, : math.ceil(h / 32), : math.ceil(w / 32)]
        key = _l2n(torch.cat([_l2n(f16), _l2n(_resize_to(f32, (h16, w16)))], 0))
        # pixel-major storage ((h8, w8, C) in memory): the head reads pixel rows as a view;
        # each level is normalised straight into its slice
        levels = [f8, _resize_to(f16, (h8, w8)), _resize_to(f32, (h8, w8))]
        rows = torch.empty(h8, w8, sum(f.shape[0] for f in levels), device=self.device)
        start = 0
        for level in levels:
            stop = start + level.shape[0]
            _l2n_into(level, rows[..., start:stop])
            start = stop
        dense = rows.permute(2, 0, 1)
        return FrameFeatures(key=key, dense=dense)
