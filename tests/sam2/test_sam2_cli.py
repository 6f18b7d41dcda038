"""The SAM 2 engine through ``vosam segment``: strict checkpoints, scores, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sam2_helpers import fresh_model, shared_model, squares_video, write_frames

import vosam.engines.sam2.propagator as sam2_propagator
from vosam.cli import main
from vosam.engines.sam2.build import load_weights
from vosam.errors import CheckpointError
from vosam.io import read_mask, write_mask


@pytest.fixture
def small_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build checkpoint models at image size 64 (the weights do not depend on it)."""
    real = sam2_propagator.build_model

    def build_model(config: str, *, overrides=(), device="cpu"):
        return real(config, overrides=("++model.image_size=64", *overrides), device=device)

    monkeypatch.setattr(sam2_propagator, "build_model", build_model)


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, list[np.ndarray]]:
    frames, masks = squares_video(4)
    write_frames(tmp_path / "frames", frames)
    (tmp_path / "annotations").mkdir()
    write_mask(tmp_path / "annotations" / "00000.png", masks[0])
    return tmp_path / "frames", tmp_path / "annotations", masks


def _segment(clip, out: Path, *extra: str) -> int:
    frame_dir, mask_dir, _ = clip
    args = ["segment", str(frame_dir), "--masks", str(mask_dir), "--out", str(out), "--quiet"]
    return main([*args, "--engine", "sam2", "--device", "cpu", *extra])


def test_segment_with_an_official_checkpoint_name_writes_masks_and_scores(
    clip, small_models, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"  # config inferred from the name
    state = fresh_model(64).state_dict()
    torch.save({"model": {k: v.half() for k, v in state.items()}}, checkpoint)  # smaller file
    out, scores = tmp_path / "out", tmp_path / "scores"
    assert _segment(clip, out, "--checkpoint", str(checkpoint), "--save-scores", str(scores)) == 0
    masks = clip[2]
    for i in range(4):
        mask = read_mask(out / f"{i:05d}.png")
        probs = np.load(scores / f"{i:05d}.npy")
        assert probs.shape == (3, 48, 64) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
        np.testing.assert_array_equal(np.array((0, 1, 2))[probs.argmax(0)], mask)
    np.testing.assert_array_equal(read_mask(out / "00000.png"), masks[0])


def test_checkpoint_problems_are_one_line_errors(clip, small_models, tmp_path, capsys) -> None:
    wrong = tmp_path / "sam2.1_hiera_t.pt"
    torch.save({"model": {"extra.weight": torch.zeros(2)}}, wrong)
    assert _segment(clip, tmp_path / "a", "--checkpoint", str(wrong)) == 2
    err = capsys.readouterr().err
    assert "missing keys" in err and "1 unexpected keys: extra.weight" in err
    assert "configs/sam2.1/sam2.1_hiera_t.yaml" in err

    unnamed = tmp_path / "weights.pt"
    torch.save({"model": {}}, unnamed)
    assert _segment(clip, tmp_path / "b", "--checkpoint", str(unnamed)) == 2
    assert "--model-config" in capsys.readouterr().err

    garbage = tmp_path / "sam2.1_hiera_s.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert _segment(clip, tmp_path / "c", "--checkpoint", str(garbage)) == 2
    assert "cannot be read" in capsys.readouterr().err

    assert _segment(clip, tmp_path / "d") == 2
    assert "--checkpoint sam2.1_hiera_tiny.pt" in capsys.readouterr().err

    frame_dir, mask_dir, _ = clip
    args = ["segment", str(frame_dir), "--masks", str(mask_dir), "--out", str(tmp_path / "e")]
    args += ["--engine", "xmem", "--model-config", "x.yaml", "--quiet"]
    assert main(args) == 2
    assert "--model-config is an option of the sam2 engine" in capsys.readouterr().err


def test_shape_mismatch_is_listed() -> None:
    model = shared_model(64)
    state = dict(model.state_dict())
    state["no_mem_embed"] = torch.zeros(1, 1, 7)
    with pytest.raises(CheckpointError, match=r"1 shape mismatches: no_mem_embed \(1, 1, 7\)"):
        load_weights(model, state, "w.pt", model_config="configs/sam2.1/sam2.1_hiera_t.yaml")
