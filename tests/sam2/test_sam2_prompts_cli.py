"""``vosam segment --box`` with the SAM 2 engine: the box goes to the engine itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sam2_helpers import fresh_model, squares_video, write_frames

import vosam.engines.sam2.propagator as sam2_propagator
from vosam.cli import main
from vosam.io import read_mask


@pytest.fixture
def small_models(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sam2_propagator.build_model

    def build_model(config: str, *, overrides=(), device="cpu"):
        return real(config, overrides=("++model.image_size=64", *overrides), device=device)

    monkeypatch.setattr(sam2_propagator, "build_model", build_model)


def test_a_box_is_segmented_by_sam2_itself(tmp_path: Path, small_models) -> None:
    frames, _masks = squares_video(4)
    write_frames(tmp_path / "frames", frames)
    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save(
        {"model": {k: v.half() for k, v in fresh_model(64).state_dict().items()}}, checkpoint
    )
    out = tmp_path / "out"
    args = [str(tmp_path / "frames"), "--box", "4,6,19,21", "--object", "3", "--out", str(out)]
    extra = ["--engine", "sam2", "--checkpoint", str(checkpoint), "--device", "cpu", "--quiet"]
    assert main(["segment", *args, *extra]) == 0
    made = read_mask(out / "prompts" / "00000.png")
    assert set(np.unique(made)) <= {0, 3}
    np.testing.assert_array_equal(read_mask(out / "00000.png"), made)
    for i in range(4):
        assert set(np.unique(read_mask(out / f"{i:05d}.png"))) <= {0, 3}
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert "prompts" in settings and "segmenter" not in settings  # no segmenter used
