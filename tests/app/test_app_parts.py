"""The app's small parts on constructed inputs: brush strokes, the workspace guard, zip
uploads, RLE, jobs."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from vosam.app.brush import stroke_mask
from vosam.app.exports import rle_counts
from vosam.app.jobs import Job
from vosam.app.packed import MaskView, PackedMasks
from vosam.app.quota import DiskQuota
from vosam.app.uploads import unpack_frames, zip_entry_count
from vosam.app.workspace import inside, safe_name
from vosam.errors import InputError


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


def image_bytes(size: tuple[int, int], format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, format=format)
    return buffer.getvalue()


def write_zip(path, files: dict[str, bytes], method=zipfile.ZIP_DEFLATED):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", method) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return path


LIMITS = {"limit": 10**6, "max_frames": 10, "max_pixels": 100 * 100}


def roomy(tmp_path) -> DiskQuota:
    """A quota with room to spare, over a folder of its own."""
    return DiskQuota(tmp_path / "quota", 10**6)


def test_zip_members_cannot_escape_and_bombs_are_refused(tmp_path):
    png, jpeg = image_bytes((8, 6)), image_bytes((8, 6), "JPEG")
    archive = write_zip(
        tmp_path / "up" / "clip.zip",
        {
            "../../evil.png": png,
            "/abs/dir/00001.jpg": jpeg,
            "notes.txt": b"c",
            "__MACOSX/.hidden.png": b"d",
        },
    )
    folder = unpack_frames(archive, **LIMITS, quota=roomy(tmp_path))
    assert folder == tmp_path / "up" / "clip-frames"
    assert sorted(p.name for p in folder.iterdir()) == ["00001.jpg", "evil.png"]
    assert (folder / "evil.png").read_bytes() == png
    assert sorted(p.name for p in tmp_path.iterdir()) == ["up"]
    with pytest.raises(
        InputError,
        match=f"unpack to {len(png) + len(jpeg)} bytes, over the limit of {len(png)} bytes",
    ):
        unpack_frames(archive, **{**LIMITS, "limit": len(png)}, quota=roomy(tmp_path))
    with pytest.raises(
        InputError,
        match=f"unpack to {len(png) + len(jpeg)} bytes; this session has {len(png)} bytes left",
    ):
        unpack_frames(archive, **LIMITS, quota=DiskQuota(tmp_path / "quota", len(png)))


def test_zips_are_checked_before_anything_is_unpacked(tmp_path):
    png = image_bytes((8, 6))
    cases = {
        "dup": ({"a/00000.png": png, "b/00000.png": png}, "a/00000.png and b/00000.png"),
        "case": ({"x.png": png, "X.PNG": png}, "would both be frame"),
        "count": ({f"{i:05d}.png": png for i in range(11)}, "holds 11 frames"),
        "big": ({"00000.png": image_bytes((101, 100))}, "101×100, over the limit of 10000"),
        "fake": ({"00000.png": b"\0" * 5000}, "00000.png: not a PNG or JPEG image"),
        "gif": ({"00000.png": image_bytes((4, 4), "GIF")}, "not a PNG or JPEG image"),
        "none": ({"a.txt": b"x"}, "holds no .jpg, .jpeg or .png frames"),
    }
    for key, (files, needle) in cases.items():
        archive = write_zip(tmp_path / key / "v.zip", files)
        with pytest.raises(InputError, match=re.escape(needle)):
            unpack_frames(archive, **LIMITS, quota=roomy(tmp_path))
        assert [p.name for p in archive.parent.iterdir()] == ["v.zip"], key
    # entries are counted from the end record, before the directory is read
    archive = write_zip(tmp_path / "many" / "v.zip", {f"n{i}.txt": b"" for i in range(85)})
    assert zip_entry_count(archive) == 85
    with pytest.raises(InputError, match="holds 85 entries; a zip of frames may hold 84"):
        unpack_frames(archive, **LIMITS, quota=roomy(tmp_path))
    assert zip_entry_count(tmp_path / "many" / "v.zip") == 85
    (tmp_path / "plain").write_bytes(b"no zip here")
    assert zip_entry_count(tmp_path / "plain") is None


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
    job = Job("export masks", 1, lambda j: 1 / 0)
    job.run()
    assert job.state == "failed"
    assert job.error == "the export masks job failed; the server log has the details"
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
