"""Where models are kept, and the checks a cached file passes before it is loaded.

The cache is ``$VOSAM_HOME`` when set, else the platform's user cache folder
(``$XDG_CACHE_HOME/vosam`` or ``~/.cache/vosam`` on Linux, ``~/Library/Caches/vosam`` on
macOS, ``%LOCALAPPDATA%\\vosam\\Cache`` on Windows). Models live in its ``models/`` folder
under their publishers' file names; beside each, ``NAME.json`` records its size and SHA-256
once it has been checked (against the publisher's digest when there is one, or as first
downloaded when there is none), and every later load checks the file against that record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from vosam.errors import CheckpointError
from vosam.models.catalogue import ModelEntry

log = logging.getLogger(__name__)

__all__ = [
    "HOME_ENV",
    "Record",
    "cache_root",
    "check_file",
    "file_digests",
    "locked",
    "model_path",
    "models_dir",
    "part_path",
    "read_record",
    "record_path",
    "write_record",
]

HOME_ENV = "VOSAM_HOME"
_CHUNK = 1 << 20
_NAMES = {"sha256": "SHA-256", "md5": "MD5"}


def cache_root() -> Path:
    """``$VOSAM_HOME``, else the platform's user cache folder for vosam."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "vosam" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "vosam"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # the XDG rule: a relative value is ignored
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "vosam"


def models_dir() -> Path:
    """The folder holding the downloaded models."""
    return cache_root() / "models"


def model_path(entry: ModelEntry) -> Path:
    """Where ``entry``'s file is (or goes: a file placed there by hand is used)."""
    return models_dir() / entry.file


def record_path(path: Path) -> Path:
    """The record of ``path``'s checked size and SHA-256: ``path`` + ``.json``."""
    return path.with_name(path.name + ".json")


def part_path(path: Path) -> Path:
    """The download in progress of ``path`` (kept across interruptions to be resumed)."""
    return path.with_name(path.name + ".part")


@dataclass(frozen=True)
class Record:
    """What a cached file was when it was checked.

    Attributes:
        size: bytes.
        sha256: hex digest.
        checked: ``publisher`` (matched the publisher's digest) or ``first download``
            (no digest published: this is the file as first downloaded or placed).
        url: where it came from.
        when: ISO date and time of the check.
    """

    size: int
    sha256: str
    checked: str
    url: str
    when: str


def read_record(path: Path) -> Record | None:
    """The record of ``path``, or None when there is none.

    Raises:
        CheckpointError: a record that cannot be read (naming it).
    """
    where = record_path(path)
    if not where.is_file():
        return None
    try:
        data = json.loads(where.read_text())
        return Record(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(
            where, f"unreadable record of a cached model ({exc}); delete it to check again"
        ) from exc


def write_record(path: Path, record: Record) -> None:
    """Write ``path``'s record atomically (a temporary file renamed over it)."""
    where = record_path(path)
    # created like any file the user writes (0o666 less the umask), so a shared cache works
    tmp = where.with_name(f".vosam-tmp-{secrets.token_hex(4)}-{where.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(record), indent=1) + "\n")
        os.replace(tmp, where)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of the file at ``path``, all computed in one read."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}


def check_file(
    entry: ModelEntry, path: Path, *, record_at: Path | None = None, origin: str = "cached"
) -> Record:
    """Check ``path`` (the file of ``entry``) before it is loaded, and return its record.

    With a record (``record_at``'s, default ``path``'s own): the size and SHA-256 must match
    it. Without one: they must match what the publisher states (size, SHA-256 or MD5), and
    the record is then written; where the publisher states nothing, this first sight of the
    file is recorded and checked from then on.

    Args:
        record_at: the path whose record holds the check (a download in progress is
            checked against its final name's record).
        origin: how the file came (``cached``, ``downloaded``), for messages.

    Raises:
        CheckpointError: the file differs from its record or from the publisher's digest
            (one line naming the file; it must not be loaded).
    """
    record_at = path if record_at is None else record_at
    record = read_record(record_at)
    size = path.stat().st_size
    expected_size = record.size if record is not None else entry.size
    if expected_size is not None and size != expected_size:
        raise _damaged(entry, path, f"{size} bytes where {expected_size} were expected", origin)
    algorithms = ("sha256",) if record is not None or not entry.md5 else ("sha256", "md5")
    digests = file_digests(path, algorithms)
    wanted = [("sha256", record.sha256, "recorded")] if record is not None else []
    wanted += [(a, getattr(entry, a), "published") for a in ("sha256", "md5")]
    for algorithm, value, how in wanted:
        if value is not None and algorithm in digests and digests[algorithm] != value:
            problem = f"its {_NAMES[algorithm]} is {digests[algorithm]}, the {how} one is {value}"
            if how == "recorded" and record is not None and record.checked == "first download":
                problem += (
                    f" (no digest is published: {record_path(record_at).name} holds the file "
                    f"as first seen on {record.when}; delete that record if the publisher "
                    "has changed the file)"
                )
            raise _damaged(entry, path, problem, origin)
    if record is None:
        checked = "publisher" if entry.published_digest or entry.size else "first download"
        record = Record(
            size,
            digests["sha256"],
            checked,
            entry.url,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        write_record(record_at, record)
        if checked == "first download":
            log.warning(
                "%s: no digest is published for %s; recorded its SHA-256 %s to check it "
                "from now on",
                record_at,
                entry.name,
                record.sha256,
            )
    return record


def _damaged(entry: ModelEntry, path: Path, problem: str, origin: str) -> CheckpointError:
    again = f"`vosam models pull {entry.name}`"
    if origin == "downloaded":
        advice = f"the download was discarded; run {again} again"
    else:
        advice = f"it was not loaded; delete it and run {again}"
    return CheckpointError(
        path, f"{origin} file of model {entry.name} is damaged or incomplete: {problem}; {advice}"
    )


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` + ``.lock`` (other processes wait for it)."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        _lock(handle)
        try:
            yield
        finally:
            _unlock(handle)


if sys.platform == "win32":  # pragma: no cover (tested on POSIX)
    import msvcrt

    def _lock(handle) -> None:
        handle.seek(0)
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after 10 s; keep waiting
                continue

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
