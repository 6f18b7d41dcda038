"""Helpers for the evaluation tests: tiny masks on disk, where the development data is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def save_palette(path: Path, ids: np.ndarray) -> None:
    """Write uint8 ids as a palette PNG (index = id)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(ids, dtype=np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [64] * (768 - 12))
    image.save(path)


def save_grey(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype=np.uint8), mode="L").save(path)


def box(h: int, w: int, y0: int, y1: int, x0: int, x1: int, value: int = 1) -> np.ndarray:
    """uint8 (h, w) with ``value`` on rows y0..y1-1, columns x0..x1-1."""
    a = np.zeros((h, w), dtype=np.uint8)
    a[y0:y1, x0:x1] = value
    return a


def write_sequence(folder: Path, masks: dict[str, np.ndarray]) -> None:
    for name, ids in masks.items():
        save_palette(folder / f"{name}.png", ids)
