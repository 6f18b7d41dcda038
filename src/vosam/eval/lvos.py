"""LVOS: per-object frame ranges, the seen/unseen split, and its summary figures.

Layout of an LVOS split (``valid`` or ``test``)::

    GT_ROOT/Annotations/<video>/00000001.png ...   every 5th frame annotated
    GT_ROOT/<split>_meta.json                      optional, see below
    GT_ROOT/unseen_videos.txt                      optional, or given with ``unseen=``

``<split>_meta.json`` is ``{"videos": {<video>: {"objects": {"<id>": {"frame_range":
{"start": S, "end": E, "frame_nums": N}}}}}}``: object ``id`` is evaluated on the annotated
frames whose number is in ``[S, E)``; the first (its reference annotation) and the last
are not scored. Without the file an object runs from its first appearance to the last
annotated frame of the video.

The unseen list names the videos whose object categories are absent from the training
split, one per line; every other video is "seen". Figures (fractions):

- J&F-Mean = (J_seen + F_seen + J_unseen + F_unseen) / 4; J-Mean = (J_seen + J_unseen) / 2,
  F-Mean likewise (a category without objects is left out of these averages);
- J/F-Recall and J/F-Decay: over all objects;
- V (stability): per object the population std of per-frame (J + F) / 2; V-Mean averages
  the seen and unseen means. (The LVOS reference rounds each variance to 4 decimals
  before the square root and reports a decay of 0 for every object; neither is done here.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from vosam.eval.errors import ResultsFormatError
from vosam.eval.results import ObjectResult, SequenceResult, summary_of
from vosam.eval.sequence import FrameRange
from vosam.jsonfile import parse_json

__all__ = ["find_meta", "lvos_summary", "ranges_for", "read_meta", "read_unseen"]

UNSEEN_FILE = "unseen_videos.txt"


def find_meta(root: Path) -> Path | None:
    """The single ``*_meta.json`` in ``root``, if there is exactly one."""
    found = sorted(root.glob("*_meta.json"))
    return found[0] if len(found) == 1 else None


def read_meta(path: str | Path) -> dict[str, dict[int, tuple[int, int]]]:
    """Video → object id → (start, end) frame numbers from an LVOS meta JSON."""
    path = Path(path)
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
        videos = data["videos"]
        out: dict[str, dict[int, tuple[int, int]]] = {}
        for video, entry in videos.items():
            objs = {}
            for obj, info in entry["objects"].items():
                fr = info["frame_range"]
                objs[int(obj)] = (int(fr["start"]), int(fr["end"]))
            out[video] = objs
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsFormatError(path, f"cannot read the LVOS metadata ({e})") from e
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ResultsFormatError(
            path,
            'not LVOS metadata: expected {"videos": {<video>: {"objects": {<id>: '
            f'{{"frame_range": {{"start": .., "end": ..}}}}}}}}}} (problem at {e!r})',
        ) from e
    return out


def read_unseen(spec: str | Path | Iterable[str] | None, root: Path | None = None) -> set[str]:
    """Names of the unseen videos: from a file, an iterable, or ``root/unseen_videos.txt``."""
    if spec is None:
        if root is None or not (root / UNSEEN_FILE).is_file():
            return set()
        spec = root / UNSEEN_FILE
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ResultsFormatError(path, f"cannot read the unseen-video list ({e})") from e
        return {s.strip() for s in lines if s.strip()}
    return {str(s).strip() for s in spec if str(s).strip()}


def ranges_for(
    video: str, frames: Sequence[str], objects: Mapping[int, tuple[int, int]], meta_path: Path
) -> dict[int, FrameRange]:
    """Turn (start, end) frame numbers into ranges over the annotated ``frames``."""
    numbers = []
    for f in frames:
        try:
            numbers.append(int(f))
        except ValueError:
            raise ResultsFormatError(
                meta_path, f"video {video}: frame '{f}' is not a number as LVOS frames are"
            ) from None
    ranges = {}
    for obj, (start, end) in objects.items():
        inside = [f for f, n in zip(frames, numbers, strict=True) if start <= n < end]
        if not inside or int(inside[0]) != start:
            raise ResultsFormatError(
                meta_path,
                f"video {video}, object {obj}: start frame {start} has no annotation",
            )
        ranges[obj] = FrameRange(inside[0], inside[-1])
    return ranges


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return float(np.mean(vals)) if vals else math.nan


def lvos_summary(sequences: Sequence[SequenceResult]) -> tuple[dict[str, float], dict[str, float]]:
    """(summary with the seven DAVIS keys, extra seen/unseen and V figures)."""
    groups: dict[str, list[ObjectResult]] = {"seen": [], "unseen": []}
    for seq in sequences:
        groups[seq.category or "seen"].extend(o for o in seq.objects if o.scored)
    extra: dict[str, float] = {}
    for cat, objs in groups.items():
        extra[f"J-{cat}-Mean"] = _mean(o.j_stats.mean for o in objs)
        extra[f"F-{cat}-Mean"] = _mean(o.f_stats.mean for o in objs)
        extra[f"V-{cat}-Mean"] = _mean(o.stability for o in objs)
    present = [cat for cat, objs in groups.items() if objs]
    summary = summary_of(groups["seen"] + groups["unseen"])
    if present:
        j = _mean(extra[f"J-{c}-Mean"] for c in present)
        f = _mean(extra[f"F-{c}-Mean"] for c in present)
        summary["J-Mean"], summary["F-Mean"] = j, f
        summary["J&F-Mean"] = _mean(
            [extra[f"J-{c}-Mean"] for c in present] + [extra[f"F-{c}-Mean"] for c in present]
        )
        extra["V-Mean"] = _mean(extra[f"V-{c}-Mean"] for c in present)
    else:
        extra["V-Mean"] = math.nan
    return summary, extra
