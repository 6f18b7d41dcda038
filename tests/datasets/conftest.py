"""Small datasets written in each official layout, and a tiny engine to run them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.threads import one_thread  # noqa: F401 (autouse fixture)
from vosam.engines.embedded import EmbeddedConfig, EmbeddedPropagator
from vosam.io import write_mask as _write_mask

H, W = 64, 96


def square(t: int, obj: int) -> tuple[slice, slice]:
    """Where object ``obj`` is on frame number ``t``: 1 moves right, 2 moves down."""
    if obj == 1:
        return slice(8, 28), slice(4 + t, 24 + t)
    return slice(4 + t, 22 + t), slice(60, 78)


def image(t: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    bg = (rng.random((H // 8, W // 8, 3)) * 90).astype(np.uint8)
    img = np.kron(bg, np.ones((8, 8, 1), np.uint8))
    ys, xs = square(t, 1)
    img[ys, xs] = (230, 40, 40)
    img[ys.start : ys.stop : 4, xs] = (250, 250, 40)
    ys, xs = square(t, 2)
    img[ys, xs] = (30, 60, 230)
    img[ys, xs.start : xs.stop : 5] = (40, 250, 250)
    return img


def truth(t: int, objects: tuple[int, ...] = (1, 2)) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    for obj in objects:
        ys, xs = square(t, obj)
        mask[ys, xs] = obj
    return mask


def write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_mask(path, mask)


def write_frames(folder: Path, names: list[str], numbers: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, t in zip(names, numbers, strict=True):
        Image.fromarray(image(t)).save(folder / f"{name}.jpg", quality=95)


@pytest.fixture
def youtube_vos(tmp_path: Path) -> Path:
    """A 2019-style release: ``valid/`` with every 5th frame, an all-frames copy, and video
    ``a`` whose object 2 first appears on frame 00010 (annotated there alone)."""
    root = tmp_path / "ytvos"
    valid = root / "valid"
    meta = {"videos": {}}
    for video, late in (("a", 10), ("b", 0)):
        every5 = [f"{t:05d}" for t in range(0, 30, 5)]
        write_frames(valid / "JPEGImages" / video, every5, list(range(0, 30, 5)))
        all_names = [f"{t:05d}" for t in range(30)]
        write_frames(root / "valid_all_frames" / "JPEGImages" / video, all_names, list(range(30)))
        ann = valid / "Annotations" / video
        if late:
            write_mask(ann / "00000.png", truth(0, (1,)))
            write_mask(ann / f"{late:05d}.png", truth(late, (2,)))
        else:
            write_mask(ann / "00000.png", truth(0))
        meta["videos"][video] = {
            "objects": {
                "1": {"frames": every5},
                "2": {"frames": [f for f in every5 if int(f) >= late]},
            }
        }
    (valid / "meta.json").write_text(json.dumps(meta))
    return root


@pytest.fixture
def lvos(tmp_path: Path) -> Path:
    """An LVOS split: frames 00000001..00000012, annotations every 5th frame (1, 6, 11),
    object 2 entering on frame 6, and ``valid_meta.json``."""
    split = tmp_path / "lvos" / "valid"
    names = [f"{n:08d}" for n in range(1, 13)]
    write_frames(split / "JPEGImages" / "v1", names, list(range(12)))
    for n in (1, 6, 11):
        objects = (1,) if n < 6 else (1, 2)
        write_mask(split / "Annotations" / "v1" / f"{n:08d}.png", truth(n - 1, objects))
    meta = {
        "videos": {
            "v1": {
                "objects": {
                    "1": {"frame_range": {"start": 1, "end": 12, "frame_nums": 12}},
                    "2": {"frame_range": {"start": 6, "end": 12, "frame_nums": 7}},
                }
            }
        }
    }
    (split / "valid_meta.json").write_text(json.dumps(meta))
    return split.parent


@pytest.fixture
def long_video(tmp_path: Path) -> Path:
    """A Long-time Video root: 12 frames, annotations on frames 0, 5 and 11 only."""
    root = tmp_path / "long"
    names = [f"{t:05d}" for t in range(12)]
    write_frames(root / "JPEGImages" / "rat", names, list(range(12)))
    for t in (0, 5, 11):
        write_mask(root / "Annotations" / "rat" / f"{t:05d}.png", truth(t))
    return root


@pytest.fixture(scope="session")
def tiny_engine() -> EmbeddedPropagator:
    return EmbeddedPropagator(
        EmbeddedConfig(short_side=64, head_iters=40, guided_radius=2), device="cpu"
    )


@pytest.fixture
def cli_tiny_engine(monkeypatch, tiny_engine) -> EmbeddedPropagator:
    """``vosam dataset`` builds :func:`tiny_engine` instead of the default engine."""
    from vosam.spec import RunSpec

    monkeypatch.setattr(RunSpec, "build", lambda self: tiny_engine)
    return tiny_engine


def rle(mask: np.ndarray) -> dict:
    import pycocotools.mask as api

    out = api.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": out["size"], "counts": out["counts"].decode()}


def polygon(ys: slice, xs: slice) -> list[list[float]]:
    """The rectangle ``ys × xs`` as a COCO polygon (pixel corners)."""
    y0, y1, x0, x1 = ys.start, ys.stop, xs.start, xs.stop
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


@pytest.fixture
def youtube_vis(tmp_path: Path) -> Path:
    """A 2019-style YouTube-VIS root: ``train.json`` and ``train/JPEGImages/v/``; track 1
    (RLE) from frame 0, track 2 (polygons) entering on frame 2."""
    root = tmp_path / "ytvis"
    names = [f"{t:05d}" for t in range(6)]
    write_frames(root / "train" / "JPEGImages" / "v", names, list(range(6)))
    first = [rle(truth(t, (1,)) == 1) for t in range(6)]
    late = [None, None] + [polygon(*square(t, 2)) for t in range(2, 6)]
    data = {
        "videos": [
            {
                "id": 7,
                "file_names": [f"v/{n}.jpg" for n in names],
                "height": H,
                "width": W,
                "length": 6,
            }
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 1, "video_id": 7, "category_id": 3, "iscrowd": 0, "segmentations": first},
            {"id": 2, "video_id": 7, "category_id": 1, "iscrowd": 0, "segmentations": late},
        ],
    }
    (root / "train.json").write_text(json.dumps(data))
    return root


@pytest.fixture
def davis(tmp_path: Path) -> Path:
    """A DAVIS 2017 root: sequence ``d`` of 8 frames with both objects annotated on 00000."""
    root = tmp_path / "DAVIS"
    names = [f"{t:05d}" for t in range(8)]
    write_frames(root / "JPEGImages" / "480p" / "d", names, list(range(8)))
    write_mask(root / "Annotations" / "480p" / "d" / "00000.png", truth(0))
    return root
