"""Tiny inputs, good and bad, for the reliability suite; the CLI builds the fast engine."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.core.conftest import FAST, moving_squares, write_video_folder
from tests.corrupt import (
    damage_jpeg_payload,
    damage_mp4_payload,
    textured_frames,
    write_mp4,
)
from vosam.io import write_mask


def tree(folder: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file and ``<dir>/`` for every folder under
    ``folder`` (hidden ones too)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


@pytest.fixture
def fast_cli(monkeypatch):
    """Every embedded engine the CLI builds is the fast test configuration."""
    import vosam.engines.embedded.propagator as prop

    original = prop.EmbeddedPropagator.__init__

    def fast_init(self, config=None, *, device="auto"):
        original(self, FAST, device=device)

    monkeypatch.setattr(prop.EmbeddedPropagator, "__init__", fast_init)


def _davis(root: Path, frames: Path, mask: np.ndarray, name: str = "seq") -> Path:
    (root / "JPEGImages" / "480p" / name).mkdir(parents=True)
    for f in frames.iterdir():
        shutil.copy(f, root / "JPEGImages" / "480p" / name / f.name)
    (root / "Annotations" / "480p" / name).mkdir(parents=True)
    write_mask(root / "Annotations" / "480p" / name / "00000.png", mask)
    return root


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> Path:
    """Every input the bad-input table uses, built once; each case copies it."""
    base = tmp_path_factory.mktemp("inputs")
    images, masks = moving_squares()
    write_video_folder(base / "frames", images)
    (base / "ann").mkdir()
    write_mask(base / "ann" / "00000.png", masks[0])
    write_mp4(base / "video.mp4", list(images))
    # damaged frames: a JPEG folder whose fourth frame is damaged, a damaged mp4
    (base / "jpegs").mkdir()
    for t, image in enumerate(textured_frames(8)):
        Image.fromarray(image).save(base / "jpegs" / f"{t:05d}.jpg", quality=90)
    shutil.copytree(base / "jpegs", base / "damaged-jpegs")
    damage_jpeg_payload(base / "damaged-jpegs" / "00003.jpg")
    damage_mp4_payload(write_mp4(base / "damaged.mp4", textured_frames(24)), runs=3)
    data = write_mp4(base / "full.mp4", textured_frames(24), faststart=True).read_bytes()
    (base / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    (base / "garbage.mp4").write_bytes(b"\x00\x01garbage" * 100)
    (base / "empty").mkdir()
    (base / "one").mkdir()
    Image.fromarray(images[0]).save(base / "one" / "00000.png")
    # bad annotations, one folder each
    for name, mask in {
        "zero": np.zeros_like(masks[0]),
        "void": np.full_like(masks[0], 255),
        "small": np.zeros((10, 10), np.uint8),
    }.items():
        (base / f"ann-{name}").mkdir()
        write_mask(base / f"ann-{name}" / "00000.png", mask)
    (base / "ann-smooth").mkdir()
    binary = Image.fromarray((masks[0] == 1).astype(np.uint8) * 255)
    smooth = binary.resize((64, 48), Image.Resampling.BILINEAR).resize((128, 96))
    smooth.save(base / "ann-smooth" / "00000.png")
    (base / "ann-foreign").mkdir()
    write_mask(base / "ann-foreign" / "99999.png", masks[0])
    (base / "ann-garbage").mkdir()
    (base / "ann-garbage" / "00000.png").write_bytes(b"not a png")
    (base / "ann-none").mkdir()
    # datasets
    _davis(base / "davis", base / "frames", masks[0])
    _davis(base / "davis-smooth", base / "frames", masks[0])
    smooth.save(base / "davis-smooth" / "Annotations" / "480p" / "seq" / "00000.png")
    _davis(base / "davis-zero", base / "frames", np.zeros_like(masks[0]))
    _davis(base / "davis-damaged", base / "damaged-jpegs", masks[0])
    (base / "not-davis" / "videos").mkdir(parents=True)
    # predictions to evaluate: the ground truth itself, one of them damaged or resized
    (base / "gt" / "seq").mkdir(parents=True)
    for t, mask in enumerate(masks):
        write_mask(base / "gt" / "seq" / f"{t:05d}.png", mask)
    for name in ("pred", "pred-garbage", "pred-small"):
        shutil.copytree(base / "gt", base / name)
    (base / "pred-garbage" / "seq" / "00003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    write_mask(base / "pred-small" / "seq" / "00003.png", np.zeros((10, 10), np.uint8))
    # trajectories
    (base / "boxes-bad.json").write_text("{not json")
    doc = {"objects": [{"id": 1, "boxes": [{"frame": 99, "box": [0, 0, 5, 5]}]}]}
    (base / "boxes-frame.json").write_text(json.dumps(doc))
    doc = {"objects": [{"id": 300, "boxes": []}]}
    (base / "boxes-id.json").write_text(json.dumps(doc))
    # the user's own files where an output might go
    (base / "mine.mp4").write_bytes(b"the user's video")
    (base / "mine.jpg").write_bytes(b"the user's picture")
    (base / "mine.zip").write_bytes(b"the user's archive")
    (base / "mine-scores").mkdir()
    (base / "mine-scores" / "notes.txt").write_text("the user's notes")
    # JSON nested 100,000 deep; 253 one-pixel boxes (each gives an empty mask)
    (base / "deep.json").write_text("[" * 100_000)
    tiny = [
        {
            "frame": 0,
            "object": k + 1,
            "box": [k % 12 * 10, k // 12 * 4, k % 12 * 10 + 1, k // 12 * 4 + 1],
        }
        for k in range(253)
    ]
    (base / "tiny-boxes.json").write_text(json.dumps({"prompts": tiny}))
    return base


@pytest.fixture
def case_dir(inputs, tmp_path) -> Path:
    """A private copy of the inputs."""
    shutil.copytree(inputs, tmp_path / "w", symlinks=True)
    return tmp_path / "w"
