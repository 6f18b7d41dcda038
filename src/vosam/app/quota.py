"""Disk use of a session's folder, and its quota, held while several requests write at once.

A write of known length (an upload's body, the frames of a zip) first reserves its bytes
under the quota's lock; the reservation counts as used until the write ends, less what the
write has put on disk so far (which is counted there already). So requests that arrive
together cannot each find room for themselves and pass the quota between them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from vosam.errors import InputError


def size_text(n: int) -> str:
    """A byte count for messages: ``512 bytes``, ``3.4 KiB``, ``1.5 MiB``."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 2**20:.1f} MiB"


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed); 0 when it is missing."""
    total = 0
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
    return total


class QuotaFull(InputError):
    """The bytes asked for do not fit. Attributes: ``room``, ``used``, ``limit`` (bytes)."""

    def __init__(self, adding: int, used: int, limit: int) -> None:
        self.adding, self.used, self.limit = adding, used, limit
        self.room = max(limit - used, 0)
        super().__init__(
            None,
            f"{size_text(adding)} more would pass this session's disk quota of "
            f"{size_text(limit)} ({size_text(used)} in use)",
        )


class DiskQuota:
    """At most ``limit`` bytes under ``folder``: the files there plus the writes under way."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self._lock = threading.Lock()
        self._reserved: dict[int, tuple[int, Path]] = {}  # id → (bytes, where they go)
        self._next = 0

    def used(self) -> int:
        """Bytes on disk under the folder plus what writes under way have yet to write."""
        with self._lock:
            return self._used()

    def _used(self) -> int:
        total = folder_bytes(self.folder)
        for nbytes, path in self._reserved.values():
            total += max(nbytes - _bytes_at(path), 0)
        return total

    def room(self) -> int:
        return max(self.limit - self.used(), 0)

    def reserve(self, nbytes: int, path: Path) -> Reservation:
        """Reserve ``nbytes`` for a write into ``path`` (a file, or a folder it fills) until
        the returned reservation is released (use it as a context manager).

        Raises:
            QuotaFull: they do not fit beside the files and the other reservations.
        """
        with self._lock:
            used = self._used()
            if used + nbytes > self.limit:
                raise QuotaFull(nbytes, used, self.limit)
            key = self._next
            self._next += 1
            self._reserved[key] = (nbytes, path)
        return Reservation(self, key)

    def _release(self, key: int) -> None:
        with self._lock:
            self._reserved.pop(key, None)


class Reservation:
    """Bytes reserved under a :class:`DiskQuota`; released on :meth:`release` or when the
    ``with`` block ends."""

    def __init__(self, quota: DiskQuota, key: int) -> None:
        self._quota, self._key = quota, key

    def release(self) -> None:
        self._quota._release(self._key)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _bytes_at(path: Path) -> int:
    try:
        if path.is_dir() and not path.is_symlink():
            return folder_bytes(path)
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return 0
