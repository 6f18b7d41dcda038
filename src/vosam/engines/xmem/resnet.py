"""ResNet stages for XMem's encoders, with channel widths given explicitly.

XMem uses ResNet-50 up to ``layer3`` as its key encoder and ResNet-18 up to ``layer3`` (with a
5-channel stem) as its value encoder. Widths and block counts come from an
:class:`~vosam.engines.xmem.arch.XMemArch`, itself read from a checkpoint's weight shapes,
so the same code builds the official network and the tiny ones used in tests. Module names
match the official checkpoints (``conv1``, ``bn1``, ``downsample.0``, ``downsample.1``...).
"""

from __future__ import annotations

import torch
from torch import nn


def _downsample(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_ch),
    )


class Bottleneck(nn.Module):
    """1×1 → 3×3 (strided) → 1×1 residual block. ``(B, in, H, W) -> (B, out, H/s, W/s)``."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, mid_ch, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_ch)
        self.conv2 = nn.Conv2d(mid_ch, mid_ch, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_ch)
        self.conv3 = nn.Conv2d(mid_ch, out_ch, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        needs_proj = stride != 1 or in_ch != out_ch
        self.downsample = _downsample(in_ch, out_ch, stride) if needs_proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(out + skip)


class BasicBlock(nn.Module):
    """3×3 (strided) → 3×3 residual block. ``(B, in, H, W) -> (B, out, H/s, W/s)``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        needs_proj = stride != 1 or in_ch != out_ch
        self.downsample = _downsample(in_ch, out_ch, stride) if needs_proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return self.relu(out + skip)


def bottleneck_stage(
    in_ch: int, mid_ch: int, out_ch: int, blocks: int, stride: int
) -> nn.Sequential:
    """``blocks`` bottlenecks; the first one strides and projects."""
    layers = [Bottleneck(in_ch, mid_ch, out_ch, stride)]
    layers += [Bottleneck(out_ch, mid_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def basic_stage(in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` basic blocks; the first one strides and projects."""
    layers = [BasicBlock(in_ch, out_ch, stride)]
    layers += [BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
