"""Tests on the real sequences in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vosam.io import FolderSource, VideoSource, open_source, read_annotations

SPARSE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sparse-annotations"

pytestmark = pytest.mark.data


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs the shared data set: {path} is absent")
    return path


def test_chair_video_matches_its_frame_folder() -> None:
    folder = FolderSource(_need(SPARSE / "chair" / "JPEGImages"))
    with VideoSource(_need(SPARSE / "chair" / "chair.mp4")) as video:
        assert len(video) == len(folder) == 60
        assert video.size == folder.size == (480, 720)
        assert folder.names[0] == "frame_000000" and folder.names[-1] == "frame_000059"
        assert video.names[-1] == "00059"
        for i in (0, 59):
            diff = np.abs(video.read(i).astype(np.int16) - folder.read(i).astype(np.int16))
            assert diff.mean() < 4.0, f"frame {i} differs by {diff.mean():.2f} on average"


def test_caps_sparse_annotations() -> None:
    with open_source(_need(SPARSE / "caps" / "JPEGImages")) as frames:
        assert len(frames) == 87
        masks = read_annotations(SPARSE / "caps" / "Annotations", frames.names, frames.size)
    assert list(masks) == [0, 14, 33, 43, 66]
    ids = {i: sorted(np.unique(m).tolist()) for i, m in masks.items()}
    assert ids == {0: [0, 1], 14: [0, 1], 33: [0, 1, 2], 43: [0, 1, 2], 66: [0, 1, 2]}
    assert all(m.shape == frames.size == (853, 480) for m in masks.values())
