"""The workspace guard: every path the app reads from a request or writes must lie inside
the configured workspace folder, and none may lead into the app's own data folder (where
each session keeps its uploads), whose contents belong to one session each."""

from __future__ import annotations

import re
from pathlib import Path

from vosam.errors import InputError
from vosam.io import FrameSource

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def inside(root: Path, user_path: str, *, private: Path | None = None) -> Path:
    """Resolve ``user_path`` (relative to ``root``, or absolute) and check it is in ``root``
    and, when given, not in ``private``.

    Symbolic links are resolved first, so a link pointing out of the workspace is refused
    like a ``..`` path.

    Raises:
        InputError: the path is empty, holds a NUL character, or leads outside ``root`` or
            into ``private``.
    """
    text = user_path.strip()
    if not text:
        raise InputError(None, "give a path inside the workspace")
    if "\x00" in text:
        raise InputError(None, "the path holds a NUL character")
    path = (root / text).resolve()
    _check(root, path, text, private)
    return path


def _check(root: Path, path: Path, shown: str, private: Path | None) -> None:
    if not path.is_relative_to(root):
        raise InputError(shown, f"is outside the workspace {root.name}/; only paths inside it open")
    if private is not None and path.is_relative_to(private):
        raise InputError(
            shown, f"is in the app's data folder {private.name}/; upload the file instead"
        )


def check_frame_files(root: Path, source: FrameSource, *, private: Path | None = None) -> None:
    """Every frame file of a frame folder, resolved (links followed), must lie in ``root``
    and not in ``private``: a folder inside the workspace may not hold links to frames
    elsewhere. A video file (one path, checked by :func:`inside`) passes as it is.

    Raises:
        InputError: naming the first frame file that leads out.
    """
    if not source.path.is_dir():
        return
    for index in range(len(source)):
        name = source.source_file(index)
        file = (source.path / name).resolve()
        _check(root, file, relative(root, source.path / name), private)


def safe_name(name: str, default: str = "upload") -> str:
    """A file name made of ``[A-Za-z0-9._-]`` only, never hidden, never a path."""
    stem = _UNSAFE.sub("_", Path(name).name).lstrip("._")
    return stem[:120] or default


def relative(root: Path, path: Path) -> str:
    """``path`` as shown to the user: relative to the workspace."""
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return path.name
