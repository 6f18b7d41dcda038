"""The videos of the workspace, listed for the page to open with a click.

The listing walks the workspace without ever leaving it: hidden entries (``.vosam-app``
among them) and the folder of saved work (:data:`~vosam.app.saved.RUNS_DIR`) are skipped,
linked folders are not entered, a linked file is listed only when it resolves inside the
workspace, and the walk stops at :data:`MAX_DEPTH` levels, :data:`MAX_FOLDERS` folders read
and :data:`MAX_VIDEOS` videos found. A folder is a video when it holds frame images
(``.jpg``, ``.jpeg``, ``.png``) other than masks: a folder whose first PNG is a palette
image holds annotations, not frames, and is left out.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vosam.app.saved import RUNS_DIR
from vosam.io.frames import FRAME_SUFFIXES

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
MAX_DEPTH = 6  # folder levels below the workspace searched
MAX_FOLDERS = 2000  # folders read at most
MAX_VIDEOS = 500  # videos listed at most


@dataclass(frozen=True)
class Video:
    """A video of the workspace.

    Attributes:
        path: relative to the workspace, with ``/`` (what ``POST /api/open`` takes).
        kind: ``frames`` (a folder of frame images) or ``file`` (a video file).
        frames: frame images of a folder; None for a video file (not opened to count).
        saved: work on it is saved in the workspace (see :mod:`vosam.app.saved`).
    """

    path: str
    kind: str
    frames: int | None
    saved: bool

    def to_json(self) -> dict:
        return {"path": self.path, "kind": self.kind, "frames": self.frames, "saved": self.saved}


def list_videos(root: Path) -> tuple[list[Video], bool]:
    """The videos under ``root`` (resolved), sorted by path, and whether the walk stopped
    at one of its bounds before seeing everything."""
    found: list[Video] = []
    folders = 0
    cut = False
    # breadth first: when a bound stops the walk, the shallower videos are listed
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    while queue:
        if folders >= MAX_FOLDERS or len(found) >= MAX_VIDEOS:
            cut = True
            break
        folder, depth = queue.popleft()
        folders += 1
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            log.debug("cannot list %s (%s)", folder, e.strerror)
            continue
        frames: list[os.DirEntry] = []
        for entry in entries:
            if entry.name.startswith(".") or (depth == 0 and entry.name == RUNS_DIR):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth + 1 < MAX_DEPTH:
                        queue.append((Path(entry.path), depth + 1))
                    else:
                        cut = True
                    continue
                if not entry.is_file() or not _resolves_inside(entry, root):
                    continue
            except OSError:
                continue
            suffix = Path(entry.name).suffix.lower()
            if suffix in FRAME_SUFFIXES:
                frames.append(entry)
            elif suffix in VIDEO_SUFFIXES:
                found.append(_video(root, Path(entry.path), "file", None))
        if frames and depth > 0 and not _holds_masks(frames):
            found.append(_video(root, folder, "frames", len(frames)))
    found.sort(key=lambda v: v.path)
    return found[:MAX_VIDEOS], cut or len(found) > MAX_VIDEOS


def _video(root: Path, path: Path, kind: str, frames: int | None) -> Video:
    rel = path.relative_to(root).as_posix()
    saved = (root / RUNS_DIR / rel / "run.json").is_file()
    return Video(rel, kind, frames, saved)


def _resolves_inside(entry: os.DirEntry, root: Path) -> bool:
    """A file, or a link to a file inside ``root``."""
    if not entry.is_symlink():
        return True
    return Path(entry.path).resolve().is_relative_to(root)


def _holds_masks(frames: list[os.DirEntry]) -> bool:
    """The folder's first PNG is a palette image: annotations, not frames."""
    first = next((f for f in frames if f.name.lower().endswith(".png")), None)
    if first is None:
        return False
    try:
        with Image.open(first.path) as image:
            return image.mode == "P"
    except (OSError, UnidentifiedImageError, ValueError):
        return False
