"""Uploaded files: a zip of frames unpacked into a frame folder, and clean-up.

A zip is checked from its directory and its members' image headers before a byte is
unpacked: how many entries and frames it holds, how much they unpack to, that no two
frames share a file name, and that every frame is a PNG or JPEG within the pixel budget.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import struct
import zipfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vosam.app.quota import DiskQuota, QuotaFull, size_text
from vosam.app.workspace import safe_name
from vosam.errors import InputError
from vosam.io.frames import FRAME_SUFFIXES

log = logging.getLogger(__name__)

EXTRA_ENTRIES = 64  # entries a zip may hold beyond two per frame (folders, notes, metadata)
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def zip_entry_count(archive: Path) -> int | None:
    """The number of entries a zip's end record declares, read without parsing its
    directory (which costs memory per entry); None when no end record is found."""
    with open(archive, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        tail_start = max(size - (22 + 0xFFFF), 0)
        f.seek(tail_start)
        tail = f.read()
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < 22:
            return None
        count = struct.unpack_from("<H", tail, at + 10)[0]
        if count != 0xFFFF:
            return count
        # zip64: the locator just before the end record points at the zip64 end record
        locator = at - 20
        if locator < 0 or tail[locator : locator + 4] != _ZIP64_LOCATOR:
            return count
        offset = struct.unpack_from("<Q", tail, locator + 8)[0]
        f.seek(offset)
        record = f.read(40)
        if len(record) < 40 or record[:4] != _ZIP64_EOCD:
            return None
        return struct.unpack_from("<Q", record, 32)[0]


def _member_name(member: zipfile.ZipInfo) -> str:
    return member.filename.replace("\\", "/").rsplit("/", 1)[-1]


def unpack_frames(
    archive: Path, *, limit: int, quota: DiskQuota, max_frames: int, max_pixels: int
) -> Path:
    """Unpack the frame images of a zip into ``<archive stem>-frames/`` beside it.

    Only ``.jpg``, ``.jpeg`` and ``.png`` members are taken, flattened to their (sanitised)
    file names, so no member can land outside that folder whatever path it claims.

    Args:
        limit: the most bytes the frames may unpack to (as the zip's directory says; a
            member that unpacks to more than it declares fails its checksum).
        quota: the session's disk quota; the frames must fit it too, and their bytes are
            reserved under it while they are unpacked.
        max_frames: the most frame images taken.
        max_pixels: the most pixels of a frame, read from its image header.

    Raises:
        InputError: not a zip, too many entries or frames, no frame images, two frames
            with the same file name, more than ``limit`` bytes unpacked, a frame that is
            not a PNG or JPEG image or has more than ``max_pixels`` pixels. Nothing is
            unpacked then.
    """
    folder = archive.with_name(archive.stem + "-frames")
    entries = zip_entry_count(archive)
    most = 2 * max_frames + EXTRA_ENTRIES
    if entries is not None and entries > most:
        raise InputError(
            archive.name, f"the zip holds {entries} entries; a zip of frames may hold {most}"
        )
    try:
        with zipfile.ZipFile(archive) as z:
            members = [
                m
                for m in z.infolist()
                if not m.is_dir()
                and Path(_member_name(m)).suffix.lower() in FRAME_SUFFIXES
                and not _member_name(m).startswith(".")
            ]
            if not members:
                raise InputError(archive.name, "the zip holds no .jpg, .jpeg or .png frames")
            if len(members) > max_frames:
                raise InputError(
                    archive.name,
                    f"the zip holds {len(members)} frames; this app takes at most {max_frames}",
                )
            total = sum(m.file_size for m in members)
            if total > limit:
                raise InputError(
                    archive.name,
                    f"the zip's frames unpack to {size_text(total)}, over the limit of "
                    f"{size_text(limit)}",
                )
            try:
                reservation = quota.reserve(total, folder)
            except QuotaFull as e:
                raise InputError(
                    archive.name,
                    f"the zip's frames unpack to {size_text(total)}; this session has "
                    f"{size_text(e.room)} left of its disk quota",
                ) from None
            with reservation:
                targets = _targets(archive.name, members)
                for m in members:
                    _check_header(archive.name, z, m, max_pixels)
                folder.mkdir(parents=True, exist_ok=True)
                try:
                    for m, name in zip(members, targets, strict=True):
                        with z.open(m) as src, open(folder / name, "wb") as out:
                            shutil.copyfileobj(src, out, 1 << 20)
                except BaseException:
                    remove_tree(folder)
                    raise
    except zipfile.BadZipFile as e:
        raise InputError(archive.name, f"not a readable zip ({e})") from e
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError, ValueError, EOFError) as e:
        # encrypted members, unknown compression methods, truncated data
        raise InputError(archive.name, f"cannot unpack the zip ({e})") from e
    return folder


def _targets(archive: str, members: list[zipfile.ZipInfo]) -> list[str]:
    """The flattened file name of each member; two members with one name are an error."""
    seen: dict[str, str] = {}
    names = []
    for m in members:
        name = safe_name(_member_name(m), "frame")
        key = name.casefold()
        if key in seen:
            raise InputError(
                archive,
                f"{seen[key]} and {m.filename} would both be frame {name}; a zip of frames "
                "holds one video, each frame with its own file name",
            )
        seen[key] = m.filename
        names.append(name)
    return names


def _check_header(archive: str, z: zipfile.ZipFile, member: zipfile.ZipInfo, most: int) -> None:
    """Read a member's image header (not its pixels) and check format and size."""
    name = member.filename
    try:
        with z.open(member) as stream, Image.open(stream, formats=("PNG", "JPEG")) as image:
            w, h = image.size
    except Image.DecompressionBombError:
        raise InputError(archive, f"{name}: the frame has more than {most} pixels") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, EOFError):
        raise InputError(archive, f"{name}: not a PNG or JPEG image") from None
    if w * h > most:
        raise InputError(
            archive, f"{name}: the frame is {w}×{h}, over the limit of {most} pixels for uploads"
        )


def remove(path: Path) -> None:
    """Delete a file; one already gone is fine."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove_tree(folder: Path) -> None:
    """Delete ``folder`` and everything in it (links are removed, not followed). What
    cannot be removed is logged and left."""
    if not folder.is_dir() or folder.is_symlink():
        return
    try:
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                remove_tree(child)
            else:
                remove(child)
        folder.rmdir()
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("cannot remove %s (%s)", folder, e.strerror)


def remove_path(path: Path) -> None:
    """Delete a file or a folder tree."""
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    else:
        remove(path)
