"""The workspace guard: every path the app reads from a request or writes must lie inside
the configured workspace folder."""

from __future__ import annotations

import re
from pathlib import Path

from vosam.errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def inside(root: Path, user_path: str) -> Path:
    """Resolve ``user_path`` (relative to ``root``, or absolute) and check it is in ``root``.

    Symbolic links are resolved first, so a link pointing out of the workspace is refused
    like a ``..`` path.

    Raises:
        InputError: the path is empty or leads outside ``root``.
    """
    text = user_path.strip()
    if not text:
        raise InputError(None, "give a path inside the workspace")
    path = (root / text).resolve()
    if not path.is_relative_to(root):
        raise InputError(text, f"is outside the workspace {root.name}/; only paths inside it open")
    return path


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
