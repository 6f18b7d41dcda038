"""The app's small parts on constructed inputs: brush strokes, reversed sources, the
workspace guard, zip uploads, RLE, jobs."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from tests.app.conftest import write_frames
from vosam.app.brush import stroke_mask
from vosam.app.exports import rle_counts
from vosam.app.jobs import Job
from vosam.app.packed import MaskView, PackedMasks
from vosam.app.reverse import ReversedSource
from vosam.app.uploads import unpack_frames
from vosam.app.workspace import inside, safe_name
from vosam.errors import InputError
from vosam.io import open_source


def test_a_single_point_is_a_disc_and_a_segment_a_capsule():
    disc = stroke_mask((21, 21), np.array([[10.0, 10.0]]), 3)
    yy, xx = np.mgrid[:21, :21]
    assert np.array_equal(disc, (yy - 10) ** 2 + (xx - 10) ** 2 <= 9)
    line = stroke_mask((20, 40), np.array([[5.0, 10.0], [30.0, 10.0]]), 2)
    want = np.zeros((20, 40), bool)
    want[8:13, 5:31] = True  # the band |y - 10| <= 2 along the segment
    ly, lx = np.mgrid[:20, :40]
    for x0 in (5, 30):  # and the round caps
        want |= (ly - 10) ** 2 + (lx - x0) ** 2 <= 4
    assert np.array_equal(line, want)
    edge = stroke_mask((10, 10), np.array([[-3.0, -3.0], [0.0, 0.0]]), 1.5)
    assert edge.sum() == 4 and edge[:2, :2].all()


def test_reversed_source_maps_every_index(tmp_path):
    images = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((5, 4, 6, 3), np.uint8)
    source = open_source(write_frames(tmp_path / "v", images))
    backwards = ReversedSource(source)
    assert backwards.names == ("00004", "00003", "00002", "00001", "00000")
    assert [int(image[0, 0, 0]) for _, image in backwards.frames(1)] == [3, 2, 1, 0]
    assert backwards.source_file(0) == "00004.png" and backwards.flip(backwards.flip(2)) == 2


def test_workspace_guard(tmp_path):
    root = tmp_path.resolve()
    (root / "a").mkdir()
    assert inside(root, "a") == root / "a"
    assert inside(root, str(root / "a")) == root / "a"
    for bad in ("..", "a/../..", "/etc", " "):
        with pytest.raises(InputError):
            inside(root, bad)
    assert safe_name("../../x y.mp4") == "x_y.mp4"
    assert safe_name(".hidden") == "hidden" and safe_name("..") == "upload"


def test_zip_members_cannot_escape_and_bombs_are_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("../../evil.png", b"a")
        z.writestr("/abs/dir/00001.jpg", b"b")
        z.writestr("notes.txt", b"c")
        z.writestr("__MACOSX/.hidden.png", b"d")
    archive = tmp_path / "up" / "clip.zip"
    archive.parent.mkdir()
    archive.write_bytes(buffer.getvalue())
    folder = unpack_frames(archive, 1000)
    assert folder == tmp_path / "up" / "clip-frames"
    assert sorted(p.name for p in folder.iterdir()) == ["00001.jpg", "evil.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["up"]
    with pytest.raises(InputError, match="more than the upload limit"):
        unpack_frames(archive, 1)


def test_rle_counts_are_column_major_runs_starting_with_zeros():
    mask = np.array([[1, 0, 0], [1, 1, 0]], bool)  # column-major: 1 1 0 1 0 0
    assert rle_counts(mask) == [0, 2, 1, 1, 2]
    assert rle_counts(~mask) == [2, 1, 1, 2]
    assert rle_counts(np.zeros((2, 2), bool)) == [4]


def test_job_states_and_failures():
    job = Job("x", 3, lambda j: [j.advance() for _ in range(3)] and "ok")
    job.run()
    assert (job.state, job.done, job.result) == ("done", 3, "ok")

    def fail(j):
        raise InputError("clip.mp4", "broken")

    job = Job("y", 1, fail)
    job.run()
    assert job.state == "failed" and job.error == "clip.mp4: broken"
    job = Job("z", 1, lambda j: j.advance())
    job.cancel()
    job.run()
    assert job.state == "cancelled" and job.wait(0)


def test_packed_masks_round_trip_and_frozen_views():
    store = PackedMasks((30, 40))
    mask = np.zeros((30, 40), np.uint8)
    mask[5:9, 3:20] = 7
    store[2] = mask
    assert np.array_equal(store[2], mask) and store[2] is not store[2]
    assert store.nbytes() < mask.size // 4
    view = MaskView(4, {0: np.full((30, 40), 1, np.uint8)}, store)
    store[2] = np.zeros((30, 40), np.uint8)  # later changes do not reach the view
    assert len(view) == 4 and view[0].min() == 1 and view[3].max() == 0
    assert np.array_equal(view[2], mask)
    with pytest.raises(ValueError):
        store[1] = np.zeros((30, 41), np.uint8)
    with pytest.raises(IndexError):
        view[4]
