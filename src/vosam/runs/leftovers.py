"""What a vosam run leaves behind when it is killed, told by exact names.

A run writes files through hidden temporary names and folders and renames them into place
when done; a run killed half-way (SIGKILL, a power cut) leaves them. Their names are exact:

- ``.vosam-tmp-<8 hex>-<name>``: a file being written (:mod:`vosam.io.atomic`);
- ``.vosam-partial-<8 hex>``: a run's staging folder inside its output folder;
- ``.vosam-partial-<8 hex>-<name>``: an extra output file staged beside its place;
- ``.vosam-lock`` and ``.vosam-lock-<name>``: the lock of an output folder or file
  (:mod:`vosam.runs.lock`).

A file whose name only starts like these (``.vosam-tmp-notes.txt``,
``.vosam-partial-mine/``) is the user's: it is never removed, and an output folder holding
it is refused like any other folder holding files no vosam run wrote. Leftovers are
removed only while the location's lock is held, so their owner is gone.
"""

from __future__ import annotations

import logging
import re
import shutil
from contextlib import suppress
from pathlib import Path

from vosam.io.atomic import _TMP_PREFIX

log = logging.getLogger(__name__)

STAGING_PREFIX = ".vosam-partial-"
LOCK_NAME = ".vosam-lock"

_TOKEN = "[0-9a-f]{8}"
_TEMP = re.compile(rf"{re.escape(_TMP_PREFIX)}{_TOKEN}-(?P<name>.+)")
_STAGING = re.compile(rf"{re.escape(STAGING_PREFIX)}{_TOKEN}")
_STAGED_FILE = re.compile(rf"{re.escape(STAGING_PREFIX)}{_TOKEN}-(?P<name>.+)")
_LOCK = re.compile(rf"{re.escape(LOCK_NAME)}(-.+)?")


def is_staging_folder(name: str) -> bool:
    """``name`` is a run's staging folder (``.vosam-partial-<8 hex>``)."""
    return _STAGING.fullmatch(name) is not None


def is_lock_file(name: str) -> bool:
    """``name`` is a lock file (``.vosam-lock``, ``.vosam-lock-<name>``)."""
    return _LOCK.fullmatch(name) is not None


def is_leftover(rel: str) -> bool:
    """The relative POSIX path ``rel`` is vosam's own: a temporary or staged file, a lock
    file, or anything inside a staging folder (see the module docstring)."""
    parts = rel.split("/")
    last = parts[-1]
    if any(is_staging_folder(p) for p in parts):
        return True
    return any(p.fullmatch(last) for p in (_TEMP, _STAGED_FILE, _LOCK))


def _of_file(entry: str) -> str | None:
    """The file a temporary or staged file ``entry`` is for (a temporary file of a staged
    file counts for the file staged), or None when ``entry`` is neither."""
    match = _TEMP.fullmatch(entry) or _STAGED_FILE.fullmatch(entry)
    if match is None:
        return None
    return _of_file(match["name"]) or match["name"]


def clear_leftovers(folder: Path, name: str | None = None) -> list[str]:
    """Remove what killed runs left in ``folder`` (call it holding the folder's lock, or
    the lock of the file ``name`` in it): with ``name``, the temporary and staged files of
    that file only; without, every temporary file, staged file and staging folder. Lock
    files are left to their locks. Returns the names removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        entry = path.name
        if _of_file(entry) is not None and (name is None or _of_file(entry) == name):
            if path.is_file() or path.is_symlink():
                with suppress(FileNotFoundError):
                    path.unlink()
                removed.append(entry)
        elif name is None and is_staging_folder(entry) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.debug("%s: removed leftovers of killed runs: %s", folder, ", ".join(removed))
    return removed
