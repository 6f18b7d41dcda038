"""What every dataset format yields: one :class:`DatasetSequence` per video.

A sequence description is plain data (paths and names, picklable): the frame folder, the
annotations used as input (frame → file and the object ids to take from it), each object's
start frame, the frames to write, and where to write them under the output root. The
format modules (``davis``, ``youtube_vos``, ``lvos``, ``long_video``, ``youtube_vis``)
build them; :mod:`vosam.datasets.runner` segments them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vosam.errors import InputError
from vosam.jsonfile import parse_json

__all__ = ["AnnotationInput", "DatasetSequence", "LayoutMismatch", "describe_found"]


class LayoutMismatch(InputError):
    """A root is not in the layout of the announced format."""


@dataclass(frozen=True)
class AnnotationInput:
    """An annotation given to the tracker on one frame.

    Attributes:
        path: the mask file (palette PNG, or 0/255 greyscale for DAVIS 2016).
        keep: the object ids taken from it (the objects that start on this frame); None
            takes every id in the file.
        partial: True when the objects already tracked are not drawn in this file and keep
            their prediction on this frame (YouTube-VOS, LVOS); False when the file is the
            whole truth of the frame.
        vis: YouTube-VIS only: ``(image folder, video id, frame index)`` of the frame in the
            JSON ``path``; None for a mask file.
    """

    path: Path
    keep: tuple[int, ...] | None = None
    partial: bool = False
    vis: tuple[str, int, int] | None = None

    def load(self, size: tuple[int, int]) -> np.ndarray:
        """The annotation ``uint8 (H, W)``, restricted to :attr:`keep`."""
        if self.vis is None:
            from vosam.io import read_mask

            return self.select(read_mask(self.path, expected_size=size))
        from vosam.datasets.youtube_vis import load_vis, vis_frame_mask

        images, video_id, frame = self.vis
        mask = vis_frame_mask(load_vis(self.path, Path(images)), video_id, frame)
        if mask.shape != tuple(size):
            raise InputError(self.path, f"video {video_id}: size {mask.shape} but frames {size}")
        return self.select(mask)

    def select(self, mask: np.ndarray) -> np.ndarray:
        """``uint8 (H, W)`` ids → the same with every id outside :attr:`keep` set to 0."""
        if self.keep is None:
            return mask
        return np.where(np.isin(mask, self.keep), mask, 0).astype(np.uint8)


@dataclass(frozen=True)
class DatasetSequence:
    """One video of a dataset, ready to segment.

    Attributes:
        name: the video's name (its folder name).
        frames: folder of its frames (JPEG), in natural order.
        inputs: frame name → annotation given on that frame, in frame order.
        starts: object id → name of the frame where it first appears (its first input).
        write: names of the frames to write; None writes every frame.
        output: folder of its results relative to the output root (``<name>`` for DAVIS,
            LVOS and Long-time Video, ``Annotations/<name>`` for YouTube-VOS).
        annotations: the folder the input annotations come from (outputs must not overlap).
        category: object id → category name where the format gives one.
    """

    name: str
    frames: Path
    inputs: Mapping[str, AnnotationInput]
    starts: Mapping[int, str]
    write: tuple[str, ...] | None
    output: Path
    annotations: Path
    category: Mapping[int, str] = field(default_factory=dict)


def describe_found(folder: Path, limit: int = 8) -> str:
    """What ``folder`` holds, for error messages: ``found: a/, b/, meta.json`` (sorted)."""
    if not folder.is_dir():
        return "found: nothing (no such folder)" if not folder.exists() else "found: a file"
    items = sorted(
        (p.name + ("/" if p.is_dir() else "")) for p in folder.iterdir() if p.name[0] != "."
    )
    if not items:
        return "found: an empty folder"
    more = f", … ({len(items) - limit} more)" if len(items) > limit else ""
    return "found: " + ", ".join(items[:limit]) + more


def mismatch(root: Path, fmt: str, expected: Iterable[str], where: Path | None = None) -> None:
    """Raise :class:`LayoutMismatch` listing what ``fmt`` expects and what is there."""
    want = ", ".join(expected)
    raise LayoutMismatch(
        root, f"not a {fmt} root: expected {want}; {describe_found(where or root)}"
    )


def choose(
    names: list[str], wanted: Iterable[str] | None, root: Path, what: str = "video"
) -> list[str]:
    """``wanted`` (checked against ``names``) or every name, sorted."""
    if wanted is None:
        return sorted(names)
    wanted = list(wanted)
    have = set(names)
    for name in wanted:
        if name not in have:
            raise InputError(root, f"no {what} named '{name}' (have {len(have)})")
    return wanted


def frame_names(folder: Path, suffixes: tuple[str, ...] = (".jpg", ".jpeg", ".png")) -> list[str]:
    """Stems of the frame (or mask) files in ``folder``, natural order, hidden files skipped."""
    from vosam.io import natural_sorted

    if not folder.is_dir():
        return []
    stems = [p.stem for p in folder.iterdir() if p.suffix.lower() in suffixes and p.name[0] != "."]
    return natural_sorted(stems)


def read_json(path: Path, what: str) -> object:
    """Parsed JSON of ``path``; an :class:`InputError` naming it when unreadable."""

    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, f"{what} does not exist") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(path, f"cannot read the {what} ({e})") from e
