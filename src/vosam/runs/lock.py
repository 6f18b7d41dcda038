"""One run at a time per output: a lock on each output folder and file a run writes.

The lock of a folder is the file ``.vosam-lock`` inside it; the lock of a file (an
overlay, a preview, a zip) is ``.vosam-lock-<name>`` beside it. A run holds it with
``flock`` from before it looks at what the output holds until it is done, so a second run
into the same output is refused with one line naming the holder (its process id, host and
start time), or waits for it (``wait=True``). The operating system releases the lock of a
process that dies, even by SIGKILL; the next run takes it over, and what the dead run left
(staging folders, temporary files: :mod:`vosam.runs.leftovers`) is then known to have no
owner. The lock file itself is removed when its holder releases it.

Locks are advisory and per machine: they hold between runs on one host, and on network file
systems only where those support ``flock``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vosam.errors import OutputError
from vosam.runs.leftovers import LOCK_NAME

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
"""How often a waiting run tries the lock again."""


class OutputBusy(OutputError):
    """Another vosam run holds the lock of an output."""


@dataclass
class OutputLock:
    """A held lock.

    Attributes:
        target: the output folder or file it guards.
        file: the lock file.
        previous: what the lock file said when it was taken over from a run that died
            holding it (None when the lock was free and clean).
        created: folders made to hold the lock file, outermost first (removed on release
            when empty).
    """

    target: Path
    file: Path
    previous: dict | None = None
    created: list[Path] = field(default_factory=list)
    _fd: int = -1


def lock_file(target: Path, *, folder: bool) -> Path:
    """The lock file of the output folder (``folder``) or file ``target``."""
    target = Path(target)
    return target / LOCK_NAME if folder else target.with_name(f"{LOCK_NAME}-{target.name}")


def acquire(
    target: Path,
    *,
    folder: bool,
    wait: bool = False,
    info: dict | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> OutputLock:
    """Take the lock of the output ``target`` (a folder when ``folder``), creating the
    folder that holds the lock file when it is missing.

    ``info`` is written into the lock file beside the holder's process id, host and start
    time. With ``wait`` a held lock is waited for (``on_wait(message)`` is called once);
    the wait can be interrupted (KeyboardInterrupt).

    Raises:
        OutputBusy: another run holds it and ``wait`` is False.
        OutputError: the folder cannot be made.
    """
    import fcntl

    target = Path(target)
    path = lock_file(target, folder=folder)
    created = _make_dirs(path.parent)
    told = False
    try:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise OutputError(target, f"cannot write here ({exc.strerror})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(_read(fd))
                os.close(fd)
                message = f"another vosam run is writing here ({holder})"
                if not wait:
                    raise OutputBusy(
                        target, f"{message}; wait for it to finish or pass --wait"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(f"{target}: {message}; waiting for it to finish")
                told = True
                time.sleep(POLL_SECONDS)
                continue
            except BaseException:
                os.close(fd)
                raise
            if not _same_file(fd, path):  # released and removed while we waited: again
                os.close(fd)
                continue
            break
        previous = _read(fd) or None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            **(info or {}),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except BaseException:
        _remove_empty(created)
        raise
    if previous is not None:
        log.debug("%s: took over the lock of a run that died (%s)", target, _describe(previous))
    return OutputLock(target, path, previous, created, fd)


def release(lock: OutputLock) -> None:
    """Remove the lock file, release the lock and remove the folders made for it when they
    are empty."""
    if lock._fd < 0:
        return
    if _same_file(lock._fd, lock.file):
        with suppress(FileNotFoundError):
            lock.file.unlink()
    os.close(lock._fd)
    lock._fd = -1
    _remove_empty(lock.created)


@contextmanager
def locked(
    targets: Iterable[tuple[Path, bool]],
    *,
    wait: bool = False,
    info: dict | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[list[OutputLock]]:
    """Hold the locks of every ``(target, is_folder)`` (taken in a fixed order, so two
    waiting runs cannot hold one each) for the block; see :func:`acquire`."""
    unique: dict[Path, tuple[Path, bool]] = {}
    for target, folder in targets:
        unique.setdefault(Path(target).absolute(), (Path(target), folder))
    held: list[OutputLock] = []
    try:
        for key in sorted(unique, key=str):
            target, folder = unique[key]
            held.append(acquire(target, folder=folder, wait=wait, info=info, on_wait=on_wait))
        yield held
    finally:
        for lock in reversed(held):
            release(lock)


def default_on_wait(message: str) -> None:
    """Print a waiting run's message on stderr."""
    print(message, file=sys.stderr, flush=True)


def _read(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        value = json.loads(data.decode("utf-8", "replace")) if data.strip() else {}
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _describe(info: dict) -> str:
    if not info:
        return "holder unknown"
    parts = [f"process {info.get('pid', '?')} on {info.get('host', '?')}"]
    if info.get("command"):
        parts.insert(0, f"vosam {info['command']}")
    if info.get("started"):
        parts.append(f"since {info['started']}")
    return ", ".join(parts)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    missing.reverse()
    if folder.exists() and not folder.is_dir():
        raise OutputError(folder, "exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, f"cannot create the folder ({exc.strerror})") from exc
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        with suppress(OSError):
            folder.rmdir()
