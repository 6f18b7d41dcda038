"""Atomic file writes: a result file is either complete or absent, never half-written.

Everything is first written to a hidden temporary file in the destination folder (same file
system, so the final :func:`os.replace` is atomic), flushed to disk, then renamed over the
destination. On any failure the temporary file is removed and an existing destination is
left untouched.

Temporary names keep the destination's suffix (``.vosam-tmp-1a2b3c4d-out.mp4``) so that
writers which pick a format from the file name (PyAV, Pillow) can write to them directly.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from PIL import Image

log = logging.getLogger(__name__)

_TMP_PREFIX = ".vosam-tmp-"


def temp_sibling(path: str | Path) -> Path:
    """Create an empty, uniquely named temporary file beside ``path`` and return its path.

    The file is created exclusively with the usual ``0o666 & ~umask`` permissions, so once
    renamed it looks like any file the user would have written.
    """
    path = Path(path)
    while True:
        tmp = path.with_name(f"{_TMP_PREFIX}{secrets.token_hex(4)}-{path.name}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


def commit(tmp: str | Path, path: str | Path) -> None:
    """Flush ``tmp`` to disk and rename it to ``path`` (replacing any existing file)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(Path(path).parent)


def discard(tmp: str | Path) -> None:
    """Remove a temporary file; a file already gone is not an error."""
    with suppress(FileNotFoundError):
        os.unlink(tmp)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); silently skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        log.debug("cannot fsync folder %s", folder)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; it becomes ``path`` when the block succeeds.

    For writers that want a file name rather than a file object::

        with atomic_path("out/result.npy") as tmp:
            np.save(tmp, array)  # note: np.save appends .npy unless the name ends with it
    """
    tmp = temp_sibling(path)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException:
        discard(tmp)
        raise


@contextmanager
def atomic_write(
    path: str | Path,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    errors: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a file object whose content replaces ``path`` only if the block succeeds.

    Args:
        path: destination file; its folder must exist.
        mode: ``"wb"`` (bytes) or ``"w"`` / ``"wt"`` (text, UTF-8 unless ``encoding``).
        encoding: text encoding (text mode only).
        newline: passed to :func:`open` in text mode (``""`` for :mod:`csv` writers).
        errors: passed to :func:`open` in text mode (``"surrogateescape"`` writes file
            names that are not valid UTF-8 as the bytes they are).
    """
    if mode not in ("wb", "w", "wt"):
        raise ValueError(f"atomic_write supports modes 'wb', 'w' and 'wt', not {mode!r}")
    binary = mode == "wb"
    if binary and (encoding is not None or newline is not None or errors is not None):
        raise ValueError("encoding, newline and errors apply to text mode only")
    with atomic_path(path) as tmp:
        if binary:
            handle = open(tmp, "wb")  # noqa: SIM115 (closed below, before the rename)
        else:
            handle = open(  # noqa: SIM115
                tmp, "w", encoding=encoding or "utf-8", newline=newline, errors=errors
            )
        with handle:
            yield handle


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def atomic_save_png(path: str | Path, image: Image.Image) -> None:
    """Save a PIL image as PNG at ``path`` atomically (the format does not depend on the
    suffix)."""
    with atomic_write(path) as f:
        image.save(f, format="PNG")
