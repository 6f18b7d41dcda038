"""Tiny random-weight XMem networks and a synthetic video for the XMem tests."""

from __future__ import annotations

import numpy as np
import torch

from vosam.engines.xmem import XMemArch, XMemConfig, XMemNetwork, XMemPropagator

H, W = 64, 96


def tiny_network(seed: int = 0, arch: XMemArch | None = None) -> XMemNetwork:
    torch.manual_seed(seed)
    return XMemNetwork(arch or XMemArch.tiny()).eval()


def tiny_propagator(seed: int = 0, **config: object) -> XMemPropagator:
    cfg = XMemConfig(**{"size": -1, **config})
    return XMemPropagator(tiny_network(seed), config=cfg, device="cpu")


def square_video(n: int = 8, *, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` frames ``uint8 (64, 96, 3)`` with two squares (ids 1 and 3) moving apart over
    textured noise, and their ground-truth masks ``uint8 (64, 96)``."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, size=(H, W, 3), dtype=np.uint8)
    frames, masks = [], []
    for i in range(n):
        frame = background.copy()
        mask = np.zeros((H, W), dtype=np.uint8)
        x1, x2 = 8 + 2 * i, 60 - 2 * i
        frame[10:30, x1 : x1 + 16] = (230, 40, 40)
        mask[10:30, x1 : x1 + 16] = 1
        frame[36:56, x2 : x2 + 20] = (40, 220, 60)
        mask[36:56, x2 : x2 + 20] = 3
        frames.append(frame)
        masks.append(mask)
    return frames, masks
