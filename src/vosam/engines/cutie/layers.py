"""Small building blocks of Cutie's network.

Naming as in :mod:`vosam.engines.xmem.modules`: ``x`` tensors depend on the image only,
``(B, C, H, W)``; ``g`` tensors carry an object axis, ``(B, O, C, H, W)``. Attribute names
follow the official checkpoints so that their state dicts load as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vosam.engines.xmem.modules import per_object


def gate_kernel(channels: int) -> int:
    """Kernel of the channel gate's 1-D convolution: odd, growing with ``log2(channels)``
    (5 for 256 channels)."""
    t = int((abs(math.log2(channels)) + 1) // 2)
    return t if t % 2 else t + 1


class ChannelGatedBlock(nn.Module):
    """``relu → 3×3 → relu → 3×3``, channels scaled by a gate, plus the input.

    The gate is ``sigmoid`` of a 1-D convolution (no bias) along the channel axis of the
    block output's spatial means. ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        k = gate_kernel(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(x))))
        n, c = out.shape[:2]
        means = out.mean((2, 3)).view(n, 1, c)
        gate = torch.sigmoid(self.conv(means)).view(n, c, 1, 1)
        return out * gate + x


class ObjectResBlock(nn.Module):
    """Pre-activation residual block on ``g (B, O, in, H, W) -> (B, O, out, H, W)``; the
    skip is a 1×1 convolution when the widths differ."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.downsample = None if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = per_object(self.conv2, F.relu(per_object(self.conv1, F.relu(g))))
        skip = g if self.downsample is None else per_object(self.downsample, g)
        return out + skip


class _Projections(nn.Module):
    """1×1 projections of image features and of every object's features, to be summed."""

    def __init__(self, x_ch: int, g_ch: int, out_ch: int) -> None:
        super().__init__()
        self.x_transform = nn.Conv2d(x_ch, out_ch, 1)
        self.g_transform = nn.Conv2d(g_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.x_transform(x).unsqueeze(1) + per_object(self.g_transform, g)


class FusionBlock(nn.Module):
    """Fuse image features ``x (B, C_x, H, W)`` into ``g (B, O, C_g, H, W)``: the sum of
    their 1×1 projections through two channel-gated blocks. Output ``(B, O, out, H, W)``."""

    def __init__(self, x_ch: int, g_ch: int, out_ch: int) -> None:
        super().__init__()
        self.distributor = _Projections(x_ch, g_ch, out_ch)
        self.block1 = ChannelGatedBlock(out_ch)
        self.block2 = ChannelGatedBlock(out_ch)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        fused = self.distributor(x, g)
        b, o = fused.shape[:2]
        out = self.block2(self.block1(fused.flatten(0, 1)))
        return out.view(b, o, *out.shape[1:])


class SineCode(nn.Module):
    """2-D sine/cosine position code of a ``h × w`` grid, ``(h, w, 2 F)`` for ``F``
    frequencies per axis.

    Each axis runs over ``0..scale`` (first to last cell); per frequency ``f`` the code holds
    ``sin(p f)`` and ``cos(p f)`` interleaved, x's ``2 F`` channels first, then y's. The
    frequencies are a buffer named ``inv_freq`` (stored in the official checkpoints):
    ``temperature ** (-2 i / (2 F))``.
    """

    def __init__(self, channels: int, *, scale: float, temperature: float = 128.0) -> None:
        super().__init__()
        half = channels // 2
        inv_freq = 1.0 / (temperature ** (torch.arange(0, half, 2).float() / half))
        self.register_buffer("inv_freq", inv_freq)
        self.scale = scale

    def forward(self, h: int, w: int) -> torch.Tensor:
        """``(h, w, 4 F)`` float32 code on the buffer's device."""
        dev = self.inv_freq.device
        code = torch.zeros(h, w, 4 * self.inv_freq.numel(), device=dev)
        half = 2 * self.inv_freq.numel()
        code[:, :, :half] = self._axis(w)
        code[:, :, half:] = self._axis(h).unsqueeze(1)
        return code

    def _axis(self, n: int) -> torch.Tensor:
        pos = torch.arange(n, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        pos = pos / (pos[-1] + 1e-6) * self.scale
        angles = pos[:, None] * self.inv_freq[None]
        return torch.stack((angles.sin(), angles.cos()), -1).flatten(-2)
