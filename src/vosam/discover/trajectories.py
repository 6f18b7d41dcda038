"""Box trajectories: the objects of a video as per-frame boxes, and their JSON format.

JSON format (``trajectories.json``, UTF-8)::

    {
      "format": "vosam-trajectories",
      "version": 1,
      "width": 854, "height": 480,
      "frames": ["00000", "00001", ...],
      "objects": [
        {"id": 1, "score": 0.91,
         "boxes": [{"frame": 0, "box": [x0, y0, x1, y1], "score": 0.93}, ...]},
        ...
      ]
    }

- ``objects``: one entry per object; ``id`` is its mask id in 1..254, unique in the file;
  ``score`` (optional, default the mean of its box scores) ranks objects.
- ``boxes``: the frames where the object is seen, in any order, each frame at most once;
  frames without a box are frames where the object is absent (or occluded).
- ``frame``: 0-based index into the video, or the frame's name (file stem) as a string.
- ``box``: ``x0, y0, x1, y1`` in pixels of the frame, corners inclusive (a one-pixel object at
  ``(x, y)`` has box ``[x, y, x, y]``), as :class:`vosam.refine.Prompt`; ``x0 <= x1``,
  ``y0 <= y1``. Boxes reaching out of the frame are clipped to it on use.
- ``score``: the detector's or tracker's confidence in [0, 1] (optional, default 1).
- ``format``, ``version``, ``width``, ``height`` and ``frames`` are optional on reading;
  when present they are checked against the video.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vosam.errors import InputError
from vosam.io import atomic_write_text
from vosam.jsonfile import parse_json
from vosam.objects import MAX_OBJECT_ID

FORMAT = "vosam-trajectories"
VERSION = 1


class TrajectoryError(InputError):
    """A trajectories file is unreadable or does not describe this video."""


@dataclass
class Trajectory:
    """One object's boxes through a video.

    Attributes:
        object_id: the object's mask id (1..254).
        boxes: frame index → (float32 ``(4,)`` ``x0, y0, x1, y1`` inclusive, score).
        score: the object's overall score (None: the mean of its box scores).
    """

    object_id: int
    boxes: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)
    score: float | None = None

    @property
    def frames(self) -> list[int]:
        """Frame indices with a box, increasing."""
        return sorted(self.boxes)

    @property
    def mean_score(self) -> float:
        """``score`` when set, else the mean of the box scores (0 without boxes)."""
        if self.score is not None:
            return float(self.score)
        if not self.boxes:
            return 0.0
        return float(np.mean([s for _, s in self.boxes.values()]))

    def box(self, index: int) -> np.ndarray | None:
        """The box on frame ``index`` (float32 ``(4,)``), or None."""
        entry = self.boxes.get(index)
        return None if entry is None else entry[0]


def to_json(
    trajectories: Sequence[Trajectory],
    *,
    names: Sequence[str] | None = None,
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The JSON document of ``trajectories`` (see the module docstring).

    Args:
        names: the video's frame names, written as ``frames``.
        size: the video's ``(H, W)``, written as ``height``/``width``.
    """
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    if size is not None:
        doc["width"], doc["height"] = int(size[1]), int(size[0])
    if names is not None:
        doc["frames"] = list(names)
    doc["objects"] = [
        {
            "id": t.object_id,
            "score": round(t.mean_score, 6),
            "boxes": [
                {
                    "frame": i,
                    "box": [round(float(v), 2) for v in t.boxes[i][0]],
                    "score": round(float(t.boxes[i][1]), 6),
                }
                for i in t.frames
            ],
        }
        for t in trajectories
    ]
    return doc


def write_trajectories(
    path: str | Path,
    trajectories: Sequence[Trajectory],
    *,
    names: Sequence[str] | None = None,
    size: tuple[int, int] | None = None,
) -> None:
    """Write ``trajectories`` as JSON to ``path`` atomically."""
    doc = to_json(trajectories, names=names, size=size)
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def _number(value: Any, where: str, path: Path | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TrajectoryError(path, f"{where}: {value!r} is not a finite number")
    return float(value)


def parse_trajectories(
    doc: Any,
    *,
    names: Sequence[str],
    size: tuple[int, int] | None = None,
    path: str | Path | None = None,
) -> list[Trajectory]:
    """Validate a parsed trajectories document against a video and return its objects.

    Args:
        doc: the parsed JSON.
        names: the video's frame names (indices and names in the file are checked).
        size: the video's ``(H, W)``, checked against ``width``/``height`` when given.
        path: the file, for error messages.

    Raises:
        TrajectoryError: naming the file and what is wrong (the first problem found).
    """
    path = None if path is None else Path(path)

    def fail(problem: str) -> TrajectoryError:
        return TrajectoryError(path, problem)

    if not isinstance(doc, dict):
        raise fail("trajectories must be a JSON object with an 'objects' list")
    if "format" in doc and doc["format"] != FORMAT:
        raise fail(f"format is {doc['format']!r}, expected {FORMAT!r}")
    if "version" in doc and doc["version"] != VERSION:
        raise fail(f"version {doc['version']!r} is not supported (only {VERSION})")
    if size is not None:
        for key, expected in (("width", size[1]), ("height", size[0])):
            if key in doc and doc[key] != expected:
                raise fail(f"{key} is {doc[key]!r} but the video's is {expected}")
    if "frames" in doc:
        if not isinstance(doc["frames"], list):
            raise fail("frames must be a list of frame names")
        if doc["frames"] != list(names):
            raise fail(
                f"frames list ({len(doc['frames'])} names) differs from the video's "
                f"({len(names)} frames)"
            )
    objects = doc.get("objects")
    if not isinstance(objects, list):
        raise fail("needs an 'objects' list")
    lookup = {name: i for i, name in enumerate(names)}
    out: list[Trajectory] = []
    seen_ids: set[int] = set()
    for k, obj in enumerate(objects):
        where = f"objects[{k}]"
        if not isinstance(obj, dict) or not isinstance(obj.get("boxes"), list):
            raise fail(f"{where}: needs 'id' and a 'boxes' list")
        oid = obj.get("id")
        if isinstance(oid, bool) or not isinstance(oid, int) or not 1 <= oid <= MAX_OBJECT_ID:
            raise fail(f"{where}: id {oid!r} is not an integer in 1..{MAX_OBJECT_ID}")
        if oid in seen_ids:
            raise fail(f"{where}: id {oid} appears twice")
        seen_ids.add(oid)
        score = obj.get("score")
        if score is not None:
            score = _number(score, f"{where}.score", path)
        traj = Trajectory(oid, score=score)
        for j, entry in enumerate(obj["boxes"]):
            at = f"{where}.boxes[{j}]"
            if not isinstance(entry, dict) or "frame" not in entry or "box" not in entry:
                raise fail(f"{at}: needs 'frame' and 'box'")
            frame = entry["frame"]
            if isinstance(frame, str):
                if frame not in lookup:
                    raise fail(f"{at}: frame {frame!r} is not in the video")
                index = lookup[frame]
            elif isinstance(frame, int) and not isinstance(frame, bool):
                if not 0 <= frame < len(names):
                    raise fail(f"{at}: frame {frame} is not in the video ({len(names)} frames)")
                index = frame
            else:
                raise fail(f"{at}: frame {frame!r} is neither an index nor a frame name")
            if index in traj.boxes:
                raise fail(f"{at}: object {oid} has two boxes on frame {names[index]}")
            box = entry["box"]
            if not isinstance(box, list) or len(box) != 4:
                raise fail(f"{at}: box must be [x0, y0, x1, y1]")
            x0, y0, x1, y1 = (_number(v, f"{at}.box", path) for v in box)
            if x1 < x0 or y1 < y0:
                raise fail(f"{at}: box {box} has x1 < x0 or y1 < y0")
            s = _number(entry.get("score", 1.0), f"{at}.score", path)
            if not 0.0 <= s <= 1.0:
                raise fail(f"{at}: score {s} is outside [0, 1]")
            traj.boxes[index] = (np.array([x0, y0, x1, y1], np.float32), s)
        out.append(traj)
    return out


def read_trajectories(
    path: str | Path, *, names: Sequence[str], size: tuple[int, int] | None = None
) -> list[Trajectory]:
    """Read and validate a trajectories JSON file (see the module docstring).

    Raises:
        TrajectoryError: missing or unreadable file, invalid JSON, or content that does not
            fit the video (the message names the file and the entry).
    """
    path = Path(path)
    try:
        doc = parse_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrajectoryError(path, "trajectories file does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TrajectoryError(path, f"cannot read the file ({e})") from e
    except json.JSONDecodeError as e:
        raise TrajectoryError(path, f"not valid JSON ({e})") from e
    return parse_trajectories(doc, names=names, size=size, path=path)


def clip_box(box: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """``box`` clipped to a frame of ``size (H, W)``; None when nothing of it is inside."""
    h, w = size
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, y0 = max(x0, 0.0), max(y0, 0.0)
    x1, y1 = min(x1, w - 1.0), min(y1, h - 1.0)
    if x1 < x0 or y1 < y0:
        return None
    return np.array([x0, y0, x1, y1], np.float32)


def box_of(mask: np.ndarray) -> np.ndarray | None:
    """Inclusive pixel extents of a bool ``(H, W)`` mask (float32 ``(4,)``), or None if empty."""
    ys = np.flatnonzero(mask.any(1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(0))
    return np.array([xs[0], ys[0], xs[-1], ys[-1]], np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two inclusive pixel boxes ``(4,)``."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return float(inter / (area_a + area_b - inter))
