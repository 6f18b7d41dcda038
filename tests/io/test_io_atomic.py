from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from vosam.io import atomic_path, atomic_save_png, atomic_write, atomic_write_text


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as f:
        f.write(b"new content")
    assert target.read_bytes() == b"new content"
    assert _leftovers(tmp_path) == []


def test_atomic_write_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target, "w") as f:
        f.write("half of the new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_atomic_write_failure_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as f:
        f.write(b"x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_text_mode_and_bad_mode(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    with atomic_write(target, "w", newline="") as f:
        f.write("é,1\r\n")
    assert target.read_bytes() == "é,1\r\n".encode()
    atomic_write_text(target, "plain")
    assert target.read_text() == "plain"
    with pytest.raises(ValueError, match="modes"), atomic_write(target, "a"):
        pass
    assert target.read_text() == "plain"


def test_atomic_file_gets_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "p.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_path_keeps_suffix_and_renames(tmp_path: Path) -> None:
    target = tmp_path / "video.mp4"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.endswith("-video.mp4") and tmp.name.startswith(".")
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert _leftovers(tmp_path) == []


def test_atomic_save_png(tmp_path: Path) -> None:
    target = tmp_path / "img.png"
    atomic_save_png(target, Image.new("RGB", (3, 2), (1, 2, 3)))
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.size == (3, 2)
        assert image.getpixel((2, 1)) == (1, 2, 3)
