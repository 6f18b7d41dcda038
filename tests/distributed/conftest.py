"""A tiny DAVIS-layout dataset, the fast test engine, and one Ray cluster per module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.core.conftest import FAST, moving_squares, write_video_folder
from tests.datasets.conftest import youtube_vos  # noqa: F401  (fixture: a YouTube-VOS root)
from tests.threads import one_thread  # noqa: F401  (autouse fixture)
from vosam.io import write_mask
from vosam.spec import EngineSpec, RunSpec

SEQUENCES = ("alpha", "bravo", "charlie", "delta")

SPEC = RunSpec(
    EngineSpec.with_options(
        "embedded",
        {
            "short_side": FAST.short_side,
            "guided_radius": FAST.guided_radius,
        },
    ),
    device="cpu",
)
"""The embedded engine at the size of the core tests' fast engine."""


def write_dataset(root: Path, names=SEQUENCES, frames: int = 5) -> Path:
    """``root/JPEGImages/480p/<seq>`` (PNG frames) and ``Annotations/480p/<seq>/00000.png``;
    each sequence a different seed of the moving-squares video (96×128)."""
    for seed, name in enumerate(names):
        images, masks = moving_squares(frames, seed=seed)
        if seed % 2:  # some sequences hold one object only
            masks = np.where(masks == 2, 0, masks).astype(np.uint8)
        write_video_folder(root / "JPEGImages" / "480p" / name, images)
        ann = root / "Annotations" / "480p" / name
        ann.mkdir(parents=True, exist_ok=True)
        for t, mask in enumerate(masks):
            write_mask(ann / f"{t:05d}.png", mask)
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("davis"))


def same_outputs(out: Path, reference: Path, names=SEQUENCES) -> None:
    """Every sequence folder of ``out`` holds exactly the files of ``reference``, byte for
    byte, and nothing else (no hidden leftovers of killed workers)."""
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        ours = sorted(p.name for p in (out / name).iterdir())
        theirs = sorted(p.name for p in (reference / name).iterdir())
        assert ours == theirs, name
        for file in theirs:
            a, b = (out / name / file).read_bytes(), (reference / name / file).read_bytes()
            assert a == b, f"{name}/{file}"


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> Path:
    """The local executor's output for every sequence."""
    import torch

    from vosam.datasets.davis import find_davis_sequences
    from vosam.distributed import build_executor, segment_dataset

    out = tmp_path_factory.mktemp("reference")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        segment_dataset(build_executor("local"), find_davis_sequences(dataset), out, SPEC)
    finally:
        torch.set_num_threads(before)
    return out
