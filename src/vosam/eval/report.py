"""Writing results: summary.json, CSV tables and PNG plots, each file written atomically.

For VOS protocols, ``out_dir`` receives:

- ``summary.json``: ``J&F-Mean``, ``J-Mean``, ``J-Recall``, ``J-Decay``, ``F-Mean``,
  ``F-Recall``, ``F-Decay`` as unrounded fractions (LVOS adds its seen/unseen and V keys);
- ``sequences.csv`` (one row per sequence), ``objects.csv`` (one row per object with all
  statistics), ``frames.csv`` (per-frame J and F of every object);
- ``plots/jf_per_sequence.png``: J&F of each sequence, as bars;
- ``plots/j_over_time/<sequence>.png``: J per frame of each object; frames where J is 0
  (the mask vanished or missed entirely) are shaded and marked in red.

For YouTube-VIS: ``summary.json`` (AP, AP50, AP75, AR1, AR10), ``categories.csv`` and
``plots/ap_per_category.png``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from vosam.eval import charts
from vosam.eval.results import SUMMARY_KEYS, DatasetResult, SequenceResult
from vosam.eval.vis import VISResult

__all__ = ["write_report", "write_vis_report"]


def _atomic_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with the user's usual permissions."""
    from vosam.io.atomic import atomic_write  # only when writing: importing stays light

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        fh.write(data)


def _json_value(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def _write_json(path: Path, values: dict) -> None:
    text = json.dumps({k: _json_value(v) for k, v in values.items()}, indent=2)
    _atomic_bytes(path, (text + "\n").encode())


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if (isinstance(v, float) and math.isnan(v)) else v for v in row])
    _atomic_bytes(path, buf.getvalue().encode())


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "sequence"


def plot_sequences(result: DatasetResult, path: Path) -> None:
    """Horizontal bars of each sequence's J&F, best on top, with the dataset mean."""
    seqs = sorted(
        (s for s in result.sequences if not math.isnan(s.jf_mean)), key=lambda s: s.jf_mean
    )
    mean = result.summary["J&F-Mean"]
    png = charts.bar_chart(
        [s.name for s in seqs],
        [s.jf_mean for s in seqs],
        title=f"J&F per sequence ({result.protocol})",
        x_label="J&F",
        mark=None if math.isnan(mean) else (mean, f"dataset J&F {mean:.3f}"),
    )
    _atomic_bytes(path, png)


def _frame_positions(frames: Sequence[str]) -> list[float]:
    try:
        return [float(int(f)) for f in frames]
    except ValueError:
        return [float(i) for i in range(len(frames))]


def plot_sequence_over_time(seq: SequenceResult, path: Path) -> None:
    """J per frame of each object of ``seq``; frames with J = 0 marked in red."""
    series = []
    for obj in seq.objects:
        if not obj.scored:
            continue
        x = _frame_positions(obj.frames)
        lost = [xi for xi, v in zip(x, obj.j, strict=True) if v == 0]
        series.append(charts.Series(f"object {obj.object_id}", x, obj.j.tolist(), lost))
    png = charts.line_chart(
        series, title=f"{seq.name}: J over time (x: mask lost)", x_label="frame", y_label="J"
    )
    _atomic_bytes(path, png)


def write_report(result: DatasetResult, out_dir: str | Path, *, plots: bool = True) -> list[Path]:
    """Write summary, CSVs and (optionally) plots of ``result`` into ``out_dir``.

    Returns the paths written.
    """
    out = Path(out_dir)
    written = []
    summary = dict(result.summary)
    summary.update(result.extra)
    _write_json(out / "summary.json", summary)
    written.append(out / "summary.json")

    lvos = result.protocol == "lvos"
    seq_header = ["sequence", "objects", "J-Mean", "F-Mean", "J&F-Mean"]
    if lvos:
        seq_header.insert(1, "category")
    seq_rows = []
    for s in result.sequences:
        row = [s.name, len(s.objects), s.j_mean, s.f_mean, s.jf_mean]
        if lvos:
            row.insert(1, s.category)
        seq_rows.append(row)
    _write_csv(out / "sequences.csv", seq_header, seq_rows)
    written.append(out / "sequences.csv")

    obj_header = [
        "sequence",
        "object",
        "frames",
        *SUMMARY_KEYS[1:],  # J and F figures, then their mean
        SUMMARY_KEYS[0],
        "V",
        "matched_id",
        "reference_frame",
    ]
    obj_rows = [
        [
            o.sequence,
            o.object_id,
            len(o.frames),
            o.j_stats.mean,
            o.j_stats.recall,
            o.j_stats.decay,
            o.f_stats.mean,
            o.f_stats.recall,
            o.f_stats.decay,
            o.jf_mean,
            o.stability,
            "" if o.matched_id is None else o.matched_id,
            o.reference_frame or "",
        ]
        for o in result.objects
    ]
    _write_csv(out / "objects.csv", obj_header, obj_rows)
    written.append(out / "objects.csv")

    frame_rows = (
        [o.sequence, o.object_id, fr, float(j), float(f)]
        for o in result.objects
        for fr, j, f in zip(o.frames, o.j, o.f, strict=True)
    )
    _write_csv(out / "frames.csv", ["sequence", "object", "frame", "J", "F"], frame_rows)
    written.append(out / "frames.csv")

    if plots:
        path = out / "plots" / "jf_per_sequence.png"
        plot_sequences(result, path)
        written.append(path)
        for seq in result.sequences:
            path = out / "plots" / "j_over_time" / f"{_safe_name(seq.name)}.png"
            plot_sequence_over_time(seq, path)
            written.append(path)
    return written


def write_vis_report(result: VISResult, out_dir: str | Path, *, plots: bool = True) -> list[Path]:
    """Write a YouTube-VIS result: summary.json, categories.csv, AP-per-category plot."""
    out = Path(out_dir)
    _write_json(out / "summary.json", result.summary)
    rows = [
        [cat, result.category_names.get(cat, ""), ap] for cat, ap in result.per_category.items()
    ]
    _write_csv(out / "categories.csv", ["category_id", "name", "AP"], rows)
    written = [out / "summary.json", out / "categories.csv"]
    if plots:
        cats = [r for r in rows if r[2] > -1]
        png = charts.bar_chart(
            [str(r[1] or r[0]) for r in cats],
            [r[2] for r in cats],
            title=f"AP per category (AP {result.ap:.3f})",
            x_label="AP (IoU 0.50:0.95)",
            colour=(85, 168, 104),
        )
        path = out / "plots" / "ap_per_category.png"
        _atomic_bytes(path, png)
        written.append(path)
    return written
