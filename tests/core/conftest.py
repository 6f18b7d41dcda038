"""Small synthetic videos for fast tests of the core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosam.engines.embedded import EmbeddedConfig, EmbeddedPropagator

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def need_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the development data is absent)")
    return path


def moving_squares(frames: int = 8, size: tuple[int, int] = (96, 128), seed: int = 0):
    """Frames ``(T, H, W, 3)`` and masks ``(T, H, W)``: two textured squares moving on a
    textured background; object 1 moves right, object 2 moves down."""
    rng = np.random.default_rng(seed)
    h, w = size
    bg = (rng.random((h // 8, w // 8, 3)) * 120).astype(np.uint8)
    bg = np.kron(bg, np.ones((8, 8, 1), np.uint8))
    tex1 = np.zeros((24, 24, 3), np.uint8)
    tex1[..., 0] = 230
    tex1[::4] = (250, 250, 40)
    tex2 = np.zeros((20, 20, 3), np.uint8)
    tex2[..., 2] = 220
    tex2[:, ::5] = (40, 250, 250)
    images, masks = [], []
    for t in range(frames):
        img, mask = bg.copy(), np.zeros((h, w), np.uint8)
        y1, x1 = 20, 10 + 3 * t
        img[y1 : y1 + 24, x1 : x1 + 24] = tex1
        mask[y1 : y1 + 24, x1 : x1 + 24] = 1
        y2, x2 = 10 + 3 * t, 80
        img[y2 : y2 + 20, x2 : x2 + 20] = tex2
        mask[y2 : y2 + 20, x2 : x2 + 20] = 2
        images.append(img)
        masks.append(mask)
    return np.stack(images), np.stack(masks)


def write_video_folder(folder: Path, images: np.ndarray) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for t, img in enumerate(images):
        name = f"{t:05d}"
        Image.fromarray(img).save(folder / f"{name}.png")
        names.append(name)
    return names


FAST = EmbeddedConfig(short_side=128, head_iters=60, guided_radius=4)


@pytest.fixture(scope="session")
def fast_engine() -> EmbeddedPropagator:
    return EmbeddedPropagator(FAST, device="cpu")


@pytest.fixture
def squares_dir(tmp_path: Path):
    images, masks = moving_squares()
    folder = tmp_path / "frames"
    write_video_folder(folder, images)
    return folder, images, masks


@pytest.fixture
def cli_case(tmp_path, squares_dir, monkeypatch):
    """Frames + first annotation on disk; the CLI builds the fast test engine."""
    import vosam.engines.embedded.propagator as prop
    from vosam.io import write_mask

    folder, _images, masks = squares_dir
    ann = tmp_path / "ann"
    ann.mkdir()
    write_mask(ann / "00000.png", masks[0])
    original = prop.EmbeddedPropagator.__init__

    def fast_init(self, config=None, *, device="auto"):
        original(self, FAST, device="cpu")

    monkeypatch.setattr(prop.EmbeddedPropagator, "__init__", fast_init)
    return folder, ann, masks
