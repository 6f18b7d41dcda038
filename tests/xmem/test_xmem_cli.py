"""The XMem engine through the command line: segment with scores, and suggest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from xmem_helpers import square_video, tiny_network

from vosam.cli import main
from vosam.io import read_mask, write_mask


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path, Path]:
    frames, masks = square_video(6)
    frame_dir, mask_dir = tmp_path / "frames", tmp_path / "annotations"
    frame_dir.mkdir()
    mask_dir.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(frame_dir / f"{i:05d}.png")
    write_mask(mask_dir / "00000.png", masks[0])
    checkpoint = tmp_path / "XMem.pth"
    torch.save(tiny_network().state_dict(), checkpoint)
    return frame_dir, mask_dir, checkpoint


def test_segment_with_xmem_writes_masks_and_scores(clip, tmp_path: Path) -> None:
    frame_dir, mask_dir, checkpoint = clip
    out, scores = tmp_path / "out", tmp_path / "scores"
    args = ["segment", str(frame_dir), "--masks", str(mask_dir), "--out", str(out)]
    args += ["--save-scores", str(scores), "--quiet"]
    args += ["--engine", "xmem", "--checkpoint", str(checkpoint), "--device", "cpu"]
    assert main(args) == 0
    for i in range(6):
        mask = read_mask(out / f"{i:05d}.png")
        probs = np.load(scores / f"{i:05d}.npy")
        assert probs.shape == (3, 64, 96) and probs.dtype == np.float32
        np.testing.assert_array_equal(np.array((0, 1, 3))[probs.argmax(0)], mask)


def test_suggest_prints_distinct_unannotated_frames(clip, capsys) -> None:
    frame_dir, mask_dir, checkpoint = clip
    args = ["suggest", str(frame_dir), "--masks", str(mask_dir), "--k", "2"]
    args += ["--engine", "xmem", "--checkpoint", str(checkpoint), "--device", "cpu"]
    assert main(args) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 2 == len(set(names))
    assert "00000" not in names and all(n in {f"{i:05d}" for i in range(6)} for n in names)


def test_xmem_without_checkpoint_says_what_to_pass(clip, tmp_path: Path, capsys) -> None:
    frame_dir, mask_dir, _ = clip
    args = ["segment", str(frame_dir), "--masks", str(mask_dir), "--out", str(tmp_path / "o")]
    assert main([*args, "--engine", "xmem", "--quiet"]) == 2
    assert "--checkpoint" in capsys.readouterr().err
