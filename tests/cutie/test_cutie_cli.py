"""The Cutie engine end to end: vosam segment, vosam dataset, run specs, bad weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cutie_helpers import parity_video, tiny_network
from PIL import Image

from vosam.cli import main
from vosam.engines.cutie import CutieConfig
from vosam.io import read_mask, write_mask
from vosam.spec import EngineSpec, RunSpec


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, Path]:
    frames, annotations = parity_video(7)
    frame_dir, mask_dir = tmp_path / "frames", tmp_path / "annotations"
    frame_dir.mkdir()
    mask_dir.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(frame_dir / f"{i:05d}.png")
    write_mask(mask_dir / "00000.png", annotations[0])
    checkpoint = tmp_path / "cutie-tiny.pth"
    torch.save(tiny_network().state_dict(), checkpoint)
    return frame_dir, mask_dir, checkpoint


def test_segment_with_cutie_writes_masks_and_scores(clip, tmp_path: Path) -> None:
    frame_dir, mask_dir, checkpoint = clip
    out, scores = tmp_path / "out", tmp_path / "scores"
    args = ["segment", str(frame_dir), "--masks", str(mask_dir), "--out", str(out)]
    args += ["--save-scores", str(scores), "--quiet"]
    args += ["--engine", "cutie", "--checkpoint", str(checkpoint), "--device", "cpu"]
    assert main(args) == 0
    np.testing.assert_array_equal(read_mask(out / "00000.png"), read_mask(mask_dir / "00000.png"))
    for i in range(7):
        mask = read_mask(out / f"{i:05d}.png")
        probs = np.load(scores / f"{i:05d}.npy")
        assert probs.shape == (3, 90, 117) and probs.dtype == np.float32
        np.testing.assert_array_equal(np.array((0, 1, 2))[probs.argmax(0)], mask)


def test_a_checkpoint_missing_one_tensor_exits_2_naming_it(clip, tmp_path: Path, capsys) -> None:
    frame_dir, mask_dir, checkpoint = clip
    state = torch.load(checkpoint)
    del state["object_summarizer.pos_enc.inv_freq"]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    out = tmp_path / "out"
    args = ["segment", str(frame_dir), "--masks", str(mask_dir), "--out", str(out), "--quiet"]
    assert main([*args, "--engine", "cutie", "--checkpoint", str(bad), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(bad) in err and "1 missing keys: object_summarizer.pos_enc.inv_freq" in err
    assert not out.exists()


def test_cutie_without_checkpoint_says_what_to_pass(clip, tmp_path: Path, capsys) -> None:
    frame_dir, mask_dir, _ = clip
    args = ["segment", str(frame_dir), "--masks", str(mask_dir), "--out", str(tmp_path / "o")]
    assert main([*args, "--engine", "cutie", "--quiet"]) == 2
    assert "--checkpoint cutie-base-mega.pth" in capsys.readouterr().err


def test_dataset_command_runs_cutie_on_a_davis_layout(clip, tmp_path: Path) -> None:
    frame_dir, mask_dir, checkpoint = clip
    root = tmp_path / "davis"
    (root / "JPEGImages" / "480p").mkdir(parents=True)
    (root / "Annotations" / "480p").mkdir(parents=True)
    frame_dir.rename(root / "JPEGImages" / "480p" / "blob")
    mask_dir.rename(root / "Annotations" / "480p" / "blob")
    out = tmp_path / "results"
    args = ["dataset", str(root), "--format", "davis", "--out", str(out), "--quiet"]
    args += ["--engine", "cutie", "--checkpoint", str(checkpoint), "--device", "cpu"]
    assert main(args) == 0
    written = sorted(p.name for p in (out / "blob").glob("*.png"))
    assert written == [f"{i:05d}.png" for i in range(7)]


def test_run_specs_carry_cutie_options() -> None:
    spec = RunSpec(EngineSpec.with_options("cutie", {"top_k": 20, "long_term": True}))
    again = RunSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.engine.config == CutieConfig(top_k=20, long_term=True)
