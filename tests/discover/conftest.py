"""Synthetic videos for the discovery tests: textured objects moving on textured ground."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.threads import one_thread  # noqa: F401 (autouse fixture)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def need_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the development data is absent)")
    return path


def _texture(rng: np.random.Generator, h: int, w: int, base: tuple[int, int, int]) -> np.ndarray:
    """A striped, noisy patch around colour ``base``."""
    tex = np.empty((h, w, 3), np.float32)
    tex[:] = base
    tex[::3] *= 0.6
    tex += rng.normal(0, 12, tex.shape)
    return np.clip(tex, 0, 255).astype(np.uint8)


def moving_objects(
    frames: int = 16,
    size: tuple[int, int] = (120, 160),
    *,
    occluder: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``uint8 (T, H, W, 3)`` and true ids ``uint8 (T, H, W)``.

    Object 1 (a red striped 28×28 square) moves right by 5 px a frame along the top half;
    object 2 (a blue striped 22×22 square) moves down-left by (−1, 4) px a frame. The ground
    is a random grey-green block texture. With ``occluder``, a static textured column in the
    middle of the frame, 34 px wide, hides object 1 completely on frames 11 and 12 (with the
    default size) and partly on frames 7..16; the column is part of no object.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    ground = rng.integers(40, 140, (h // 6 + 1, w // 6 + 1, 3)).astype(np.uint8)
    ground[..., 0] //= 2  # grey-green, unlike both objects
    ground[..., 2] //= 2
    ground = np.kron(ground, np.ones((6, 6, 1), np.uint8))[:h, :w]
    tex1 = _texture(rng, 28, 28, (235, 60, 50))
    tex2 = _texture(rng, 22, 22, (40, 80, 235))
    column = _texture(rng, h, 34, (200, 200, 200))
    images = np.empty((frames, h, w, 3), np.uint8)
    truth = np.zeros((frames, h, w), np.uint8)
    for t in range(frames):
        image = ground.copy()
        ids = truth[t]
        x1, y1 = 6 + 5 * t, 20
        x2, y2 = w - 34 - t, 6 + 4 * t
        image[y2 : y2 + 22, x2 : x2 + 22] = tex2
        ids[y2 : y2 + 22, x2 : x2 + 22] = 2
        image[y1 : y1 + 28, x1 : x1 + 28] = tex1[: h - y1, : w - x1]
        ids[y1 : y1 + 28, x1 : x1 + 28] = 1
        if occluder:
            c0 = w // 2 - 20
            image[:, c0 : c0 + 34] = column
            ids[:, c0 : c0 + 34] = 0
        images[t] = image
    return images, truth


def write_frames(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{t:05d}.png")
    return folder


def true_box(ids: np.ndarray, object_id: int) -> np.ndarray | None:
    ys, xs = np.nonzero(ids == object_id)
    if ys.size == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)
