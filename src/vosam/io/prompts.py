"""Prompts files: boxes and clicks for many objects and frames, as JSON.

The format (every key but ``prompts`` optional at the top; per prompt ``frame`` and
``object`` required, and at least one of ``box`` and ``points``)::

    {"prompts": [
        {"frame": 0, "object": 1, "box": [x0, y0, x1, y1]},
        {"frame": "00012", "object": 2, "points": [[x, y], [x, y]], "labels": [1, 0]}
    ]}

- ``frame``: a frame index (0 is the first frame) or a frame name (``"00012"``, a frame
  file's stem);
- ``object``: the object's id, 1..254 (its colour in the DAVIS palette);
- ``box``: pixel extents, corners inclusive, ``x`` to the right and ``y`` down;
- ``points``: clicks ``[x, y]``; ``labels``: one per click, 1 on the object (the default)
  or 0 not on it.

One prompt per object and frame. Unknown keys are refused, so a misspelt key is an error
rather than a prompt silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vosam.errors import InputError
from vosam.io.atomic import atomic_write_text
from vosam.jsonfile import parse_json
from vosam.objects import MAX_OBJECT_ID
from vosam.refine.base import Prompt

_KEYS = frozenset({"frame", "object", "box", "points", "labels"})


@dataclass(frozen=True)
class FramePrompt:
    """One object's prompt on one frame.

    Attributes:
        frame: frame index, or frame name as given (resolved by :func:`resolve_frames`).
        object_id: 1..254.
        prompt: the box and clicks.
        label: how to name it in messages (``prompts.json: prompt 2``, ``--box 1,2,3,4``).
    """

    frame: int | str
    object_id: int
    prompt: Prompt
    label: str


def read_prompts(path: str | Path) -> list[FramePrompt]:
    """The prompts of a prompts file (see the module docstring), checked for form; frames
    and coordinates are checked against the video by the caller.

    Raises:
        InputError: unreadable or malformed JSON, or a malformed prompt, named.
    """
    path = Path(path)
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(path, f"cannot read the prompts file ({e.strerror})") from e
    except ValueError as e:
        raise InputError(path, f"not valid JSON ({e})") from e
    if not isinstance(data, dict) or set(data) != {"prompts"}:
        raise InputError(path, 'a prompts file is {"prompts": [...]}')
    entries = data["prompts"]
    if not isinstance(entries, list) or not entries:
        raise InputError(path, '"prompts" must be a non-empty list')
    out = [_entry(path, k, entry) for k, entry in enumerate(entries, 1)]
    seen: dict[tuple[object, int], str] = {}
    for item in out:
        key = (item.frame, item.object_id)
        if key in seen:
            raise InputError(
                path, f"{item.label}: object {item.object_id} is prompted twice on that frame"
            )
        seen[key] = item.label
    return out


def _entry(path: Path, k: int, entry: object) -> FramePrompt:
    label = f"prompt {k}"

    def bad(problem: str) -> InputError:
        return InputError(path, f"{label}: {problem}")

    if not isinstance(entry, dict):
        raise bad("each prompt is an object with frame, object and box or points")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (keys: {', '.join(sorted(_KEYS))})")
    for key in ("frame", "object"):
        if key not in entry:
            raise bad(f"{key!r} is missing")
    frame = entry["frame"]
    if isinstance(frame, bool) or not isinstance(frame, int | str):
        raise bad("'frame' is a frame index or a frame name")
    oid = entry["object"]
    if isinstance(oid, bool) or not isinstance(oid, int) or not 0 < oid <= MAX_OBJECT_ID:
        raise bad(f"object id {oid!r} is not in 1..{MAX_OBJECT_ID}")
    label = f"prompt {k} (frame {frame}, object {oid})"
    box = points = labels = None
    if "box" in entry:
        box = _numbers(entry["box"], (4,))
        if box is None:
            raise bad("'box' is [x0, y0, x1, y1]")
    if "points" in entry:
        points = _numbers(entry["points"], (-1, 2))
        if points is None or not len(points):
            raise bad("'points' is a list of [x, y]")
        given = entry.get("labels", [1] * len(points))
        if (
            not isinstance(given, list)
            or len(given) != len(points)
            or any(v not in (0, 1) or isinstance(v, bool) for v in given)
        ):
            raise bad("'labels' is a list of 1 (on the object) or 0 (not on it), one per point")
        labels = np.array(given, np.int32)
    elif "labels" in entry:
        raise bad("'labels' without 'points'")
    if box is None and points is None:
        raise bad("a prompt needs a 'box' or 'points'")
    return FramePrompt(frame, oid, Prompt(box=box, points=points, labels=labels), label)


def _numbers(value: object, shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as float32 of ``shape`` (-1: any length), or None when it is not."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.ndim != len(shape) or any(
        s not in (-1, n) for s, n in zip(shape, array.shape, strict=True)
    ):
        return None
    if not np.isfinite(array).all() or _has_bool(value):
        return None
    return array.astype(np.float32)


def _has_bool(value: object) -> bool:
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return isinstance(value, bool)


def prompts_json(prompts: Sequence[FramePrompt]) -> dict:
    """The prompts as a prompts file's content (frames as given: index or name)."""
    entries = []
    for item in prompts:
        entry: dict[str, object] = {"frame": item.frame, "object": item.object_id}
        p = item.prompt
        if p.box is not None:
            entry["box"] = [_plain(v) for v in np.asarray(p.box).reshape(4)]
        if p.points is not None:
            entry["points"] = [[_plain(x), _plain(y)] for x, y in np.asarray(p.points)]
            entry["labels"] = [int(v) for v in np.asarray(p.labels)]
        entries.append(entry)
    return {"prompts": entries}


def write_prompts(path: str | Path, prompts: Sequence[FramePrompt]) -> None:
    """Write a prompts file (atomically) that :func:`read_prompts` reads back."""
    atomic_write_text(path, json.dumps(prompts_json(prompts), indent=2) + "\n")


def _plain(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def resolve_frame(frame: int | str, names: Sequence[str], *, stream: bool = False) -> int | None:
    """The index of ``frame`` (an index, or a frame name) in a video of frame ``names``;
    None when the video has no such frame. For a ``stream`` (names not known yet) an index
    or a number-like name is taken as it is."""
    if isinstance(frame, int):
        return frame if frame >= 0 and (stream or frame < len(names)) else None
    if frame in names:
        return names.index(frame)
    if stream and frame.isdigit():
        return int(frame)
    return None
