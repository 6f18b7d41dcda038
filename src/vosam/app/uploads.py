"""Uploaded files: a zip of frames unpacked into a frame folder, and clean-up."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

from vosam.app.workspace import safe_name
from vosam.errors import InputError
from vosam.io.frames import FRAME_SUFFIXES


def unpack_frames(archive: Path, limit: int) -> Path:
    """Unpack the frame images of a zip into ``<archive stem>-frames/`` beside it.

    Only ``.jpg``, ``.jpeg`` and ``.png`` members are taken, flattened to their (sanitised)
    file names, so no member can land outside that folder whatever path it claims.

    Raises:
        InputError: not a zip, no frame images, or more than ``limit`` bytes unpacked.
    """
    folder = archive.with_name(archive.stem + "-frames")
    try:
        with zipfile.ZipFile(archive) as z:
            members = [
                m
                for m in z.infolist()
                if not m.is_dir()
                and Path(m.filename).suffix.lower() in FRAME_SUFFIXES
                and not Path(m.filename).name.startswith(".")
            ]
            if not members:
                raise InputError(archive.name, "the zip holds no .jpg, .jpeg or .png frames")
            if sum(m.file_size for m in members) > limit:
                raise InputError(archive.name, "the zip unpacks to more than the upload limit")
            folder.mkdir(parents=True, exist_ok=True)
            for m in members:
                (folder / safe_name(Path(m.filename).name, "frame")).write_bytes(z.read(m))
    except zipfile.BadZipFile as e:
        raise InputError(archive.name, f"not a readable zip ({e})") from e
    return folder


def remove(path: Path) -> None:
    """Delete a file; one already gone is fine."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove_tree(folder: Path) -> None:
    """Delete ``folder`` and everything in it (links are removed, not followed)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            remove_tree(child)
        else:
            remove(child)
    folder.rmdir()
