"""The parent appearance model and ``vosam train``: what it writes, resumes and refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.core.conftest import moving_squares
from vosam.engines.fused import parent as parent_mod
from vosam.engines.fused.parent import ParentModel, load_parent
from vosam.errors import CheckpointError


def _davis_root(root: Path, videos: dict[str, int]) -> Path:
    """A DAVIS-layout folder of moving-squares videos (0/255 masks of both objects)."""
    for name, seed in videos.items():
        images, masks = moving_squares(frames=6, seed=seed)
        frames = root / "JPEGImages" / "480p" / name
        annotations = root / "Annotations" / "480p" / name
        frames.mkdir(parents=True)
        annotations.mkdir(parents=True)
        for t, (image, mask) in enumerate(zip(images, masks, strict=True)):
            Image.fromarray(image).save(frames / f"{t:05d}.jpg", quality=95)
            Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(
                annotations / f"{t:05d}.png"
            )
    return root


def _vosam(capsys, *args: str) -> tuple[int, str]:
    """Exit code and standard error of ``vosam ARGS`` run here."""
    from vosam.cli import main

    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def _segment_one(capsys, root: Path, out: Path, checkpoint: Path, *more: str):
    """``vosam segment`` of video ``one`` from its first mask with ``--checkpoint``."""
    return _vosam(
        capsys,
        "segment",
        str(root / "JPEGImages" / "480p" / "one"),
        "--masks",
        str(root / "Annotations" / "480p" / "one" / "00000.png"),
        "--out",
        str(out),
        "--checkpoint",
        str(checkpoint),
        *more,
    )


def test_a_model_is_saved_and_read_back(tmp_path):
    g = torch.Generator().manual_seed(0)
    model = ParentModel.empty(5)
    for _ in range(3):
        model.add(
            torch.randn(4, 6, 8, generator=g),
            np.kron(np.eye(3, 4, dtype=np.uint8), np.ones((16, 16), np.uint8)),
        )
    model.videos = ["a"]
    model.save(tmp_path / "p.npz")
    back = load_parent(tmp_path / "p.npz")
    assert back.frames == 3 and back.videos == ["a"]
    np.testing.assert_allclose(back.gram, model.gram, rtol=1e-6)
    torch.testing.assert_close(back.weight(), model.weight(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("damage", ["truncated", "not-a-model", "missing"])
def test_a_damaged_model_is_refused_naming_it(tmp_path, damage):
    path = tmp_path / "p.npz"
    model = ParentModel.empty(3)
    model.add(torch.ones(2, 4, 4), np.ones((32, 32), np.uint8))
    model.save(path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "not-a-model":
        np.savez(path, gram=np.eye(3))
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match=str(path)):
        load_parent(path)


def test_vosam_train_writes_a_model_the_engine_and_segment_use(tmp_path, capsys):
    root = _davis_root(tmp_path / "data", {"one": 0, "two": 1})
    out = tmp_path / "model.npz"
    code, err = _vosam(
        capsys, "train", str(root), "--out", str(out), "--init", "scratch", "--frame-step", "2"
    )
    assert code == 0, err
    assert "frames" in err  # progress and the last line
    model = load_parent(out)
    assert model.frames == 6 and model.videos == ["one", "two"]
    assert model.meta["frame_step"] == 2 and model.meta["init"] == "scratch"
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no checkpoint left
    code2, err2 = _vosam(capsys, "train", str(root), "--out", str(out), "--init", "scratch")
    assert code2 == 2
    assert err2.count("\n") == 1 and "--overwrite" in err2
    code3, err3 = _segment_one(capsys, root, tmp_path / "masks", out, "--quiet")
    assert code3 == 0, err3
    assert len(list((tmp_path / "masks").glob("*.png"))) == 6


def test_vosam_train_refuses_a_user_file_and_a_damaged_checkpoint(tmp_path, capsys):
    root = _davis_root(tmp_path / "data", {"one": 0})
    mine = tmp_path / "notes.npz"
    mine.write_bytes(b"mine")
    code, err = _vosam(capsys, "train", str(root), "--out", str(mine), "--overwrite")
    assert code == 2 and str(mine) in err
    assert mine.read_bytes() == b"mine"
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    code3, err3 = _segment_one(capsys, root, tmp_path / "masks", tmp_path / "bad.npz")
    assert code3 == 2
    assert err3.count("\n") == 1 and "bad.npz" in err3


def test_an_interrupted_training_resumes_after_the_last_finished_video(tmp_path, monkeypatch):
    from vosam.datasets import open_dataset
    from vosam.engines.fused.train import checkpoint_path, train_parent

    root = _davis_root(tmp_path / "data", {"one": 0, "two": 1})
    sequences = open_dataset("davis", root)
    out = tmp_path / "model.npz"
    seen = []
    original = ParentModel.add

    def add(self, dense, mask):
        seen.append(len(self.videos))
        if len(seen) == 5:  # the second video's second frame
            raise KeyboardInterrupt
        original(self, dense, mask)

    monkeypatch.setattr(ParentModel, "add", add)
    with pytest.raises(KeyboardInterrupt):
        train_parent(sequences, out, init="scratch", frame_step=2, progress=False)
    assert checkpoint_path(out).exists() and not out.exists()
    assert load_parent(checkpoint_path(out)).videos == ["one"]
    monkeypatch.setattr(ParentModel, "add", original)
    calls = []
    monkeypatch.setattr(
        ParentModel, "add", lambda self, d, m: (calls.append(1), original(self, d, m))
    )
    model = train_parent(sequences, out, init="scratch", frame_step=2, progress=False)
    assert len(calls) == 3  # only the second video again
    assert model.frames == 6 and model.videos == ["one", "two"]
    whole = tmp_path / "whole.npz"
    monkeypatch.setattr(ParentModel, "add", original)
    straight = train_parent(sequences, whole, init="scratch", frame_step=2, progress=False)
    np.testing.assert_allclose(load_parent(out).gram, load_parent(whole).gram, rtol=1e-5, atol=1e-9)
    assert straight.frames == 6


def test_init_shipped_adds_the_videos_to_the_shipped_statistics(tmp_path, monkeypatch):
    from vosam.datasets import open_dataset
    from vosam.engines.fused.train import train_parent

    shipped = ParentModel.empty(parent_mod_dims := 473)
    shipped.gram += np.eye(parent_mod_dims)
    shipped.cross[:, 1] = 1
    shipped.frames, shipped.videos = 10, ["old"]
    shipped.save(tmp_path / "shipped.npz")
    monkeypatch.setattr("vosam.engines.fused.train.SHIPPED", tmp_path / "shipped.npz")
    root = _davis_root(tmp_path / "data", {"one": 0})
    model = train_parent(
        open_dataset("davis", root), tmp_path / "m.npz", frame_step=3, progress=False
    )
    assert model.frames == 12 and model.videos == ["old", "one"]
    assert parent_mod.FORMAT == "vosam-appearance-parent"


def test_the_loss_falls_and_the_model_segments_a_video_it_never_saw(tmp_path):
    """Trained on three synthetic videos, the parent's prequential loss falls from the
    empty model's 1.0, and it tells the squares from the background on a fourth video."""
    from vosam.datasets import open_dataset
    from vosam.engines.embedded.features import FeatureExtractor
    from vosam.engines.fused.appearance import rows
    from vosam.engines.fused.train import train_parent

    root = _davis_root(tmp_path / "data", {"a": 0, "b": 1, "c": 2})
    model = train_parent(
        open_dataset("davis", root),
        tmp_path / "m.npz",
        init="scratch",
        frame_step=2,
        progress=False,
    )
    losses = model.meta["losses"]
    assert losses[-1] < losses[0] and losses[-1] < 0.5
    back = load_parent(tmp_path / "m.npz")
    weight = back.weight()
    images, masks = moving_squares(frames=3, seed=9)
    extractor = FeatureExtractor(torch.device("cpu"), 480)
    dense = extractor(images[2]).dense
    h8, w8 = dense.shape[-2:]
    small = (
        torch.nn.functional.interpolate(
            torch.from_numpy(masks[2] > 0)[None, None].float(), size=(h8, w8), mode="nearest"
        )[0, 0]
        .reshape(-1)
        .bool()
    )
    scores = rows(dense) @ weight
    found = scores[:, 1] > scores[:, 0]
    balanced = (found[small].float().mean() + (~found[~small]).float().mean()) / 2
    assert balanced > 0.85
