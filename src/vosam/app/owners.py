"""Which server owns a session folder, and clearing the folders of servers that are gone.

A session's folder is made with an empty file ``.vosam-owner-<pid>`` in it: the process id
of the server that made it, and a lock (``flock``) that server holds on the file as long as
it lives. The kernel drops the lock when the process ends however it ends (SIGKILL, a
crash, a power cut), so a server starting on the same workspace can tell a folder left by
a dead server (the lock is free) from one in use by a live server (it is held) and remove
only the former. Folders without an owner file were not made by the app this way and are
never touched.

Where ``fcntl`` does not exist (Windows), folders are marked but never cleared.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from vosam.app.uploads import remove_tree

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

OWNER_PREFIX = ".vosam-owner-"


class Ownership:
    """This process's claim on a session folder: the owner file's descriptor, locked."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    def release(self) -> None:
        """Drop the lock (after the folder has been removed)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def claim(folder: Path) -> Ownership:
    """Make the new folder ``folder`` and mark it as this process's.

    The owner file is written and locked under a temporary name, then renamed: a server
    that clears leftovers never sees it unlocked.

    Raises:
        OSError: the folder exists already or cannot be made.
    """
    folder.mkdir(parents=True)
    temporary = folder / f".vosam-claim-{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(temporary, folder / f"{OWNER_PREFIX}{os.getpid()}")
    except BaseException:
        os.close(fd)
        remove_tree(folder)
        raise
    return Ownership(folder, fd)


def clear_leftovers(data_dir: Path) -> list[Path]:
    """Remove the session folders in ``data_dir`` whose owner file no live process holds
    locked; returns them. Folders without an owner file, and links, are left alone."""
    if fcntl is None or not data_dir.is_dir():
        return []
    cleared = []
    for folder in sorted(data_dir.iterdir()):
        if folder.is_symlink() or not folder.is_dir():
            continue
        owners = [p for p in folder.iterdir() if p.name.startswith(OWNER_PREFIX)]
        if len(owners) != 1 or owners[0].is_symlink() or not owners[0].is_file():
            continue
        try:
            fd = os.open(owners[0], os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # removed meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its server is alive
            pid = owners[0].name.removeprefix(OWNER_PREFIX)
            log.info("removing %s, left by server process %s which has ended", folder, pid)
            remove_tree(folder)
            cleared.append(folder)
        finally:
            os.close(fd)
    return cleared
