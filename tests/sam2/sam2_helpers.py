"""Tiny random-weight SAM 2 models and synthetic videos for the SAM 2 engine tests."""

from __future__ import annotations

import functools

import numpy as np
import torch

from vosam.engines.sam2.build import build_model
from vosam.engines.sam2.config import SAM2Config
from vosam.engines.sam2.propagator import SAM2Propagator

TINY = "configs/sam2.1/sam2.1_hiera_t.yaml"
H, W = 48, 64


def fresh_model(size: int = 64, seed: int = 0, overrides: tuple[str, ...] = ()):
    """SAM 2.1 hiera-t with random weights (seeded) at image size ``size``."""
    torch.manual_seed(seed)
    return build_model(TINY, overrides=(f"++model.image_size={size}", *overrides))


def shared_model(size: int = 64, seed: int = 0):
    """One read-only model per (size, seed) for the whole test session."""
    return _cached_model(size, seed)


@functools.cache
def _cached_model(size: int, seed: int):
    return fresh_model(size, seed)


def propagator(size: int = 64, seed: int = 0, **config: object) -> SAM2Propagator:
    return SAM2Propagator(shared_model(size, seed), config=SAM2Config(**config), device="cpu")


def squares_video(
    n: int = 12, *, late: int | None = None, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` frames ``uint8 (48, 64, 3)`` with squares 1 and 2 moving over textured noise,
    and their masks ``uint8 (48, 64)``. With ``late``, object 5 enters on frame ``late``."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, size=(H, W, 3), dtype=np.uint8)
    frames, masks = [], []
    for i in range(n):
        frame = background.copy()
        mask = np.zeros((H, W), np.uint8)
        a, b = 4 + i % 20, 40 - i % 20
        frame[6:22, a : a + 16] = (230, 40, 40)
        mask[6:22, a : a + 16] = 1
        frame[26:44, b : b + 18] = (40, 220, 60)
        mask[26:44, b : b + 18] = 2
        if late is not None and i >= late:
            frame[30:40, 2:12] = (40, 60, 230)
            mask[30:40, 2:12] = 5
        frames.append(frame)
        masks.append(mask)
    return frames, masks


def write_frames(folder, frames: list[np.ndarray]) -> None:
    """Frames as lossless PNG files ``00000.png``... in ``folder`` (created)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
