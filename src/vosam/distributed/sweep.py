"""Sweeps: several engine configurations over one dataset, compared in one table.

A sweep file (JSON or TOML) lists named runs; each run is a :class:`~vosam.spec.RunSpec`
(its ``to_dict`` keys)::

    sequences = ["bear", "tennis"]        # optional: default every sequence

    [[runs]]
    name = "xmem-plus-plus"               # folder name under --out and the table's row

    [[runs]]
    name = "plain-xmem-memory"
    permanent_memory = false

    [[runs]]
    name = "top-k-10"
    options = { memory = { top_k = 10 } }  # fields of the engine's config

    [[runs]]
    name = "refined"
    refiner = { name = "embedded", refine = "every" }  # as vosam segment --refiner

(JSON: ``{"sequences": [...], "runs": [{"name": ..., ...}]}``.) Each run segments the dataset
into ``OUT/<name>/`` on the executor (sequences already complete are skipped, so a stopped
sweep resumes), is scored with the semi-supervised DAVIS evaluation, and becomes one row of
``OUT/comparison.csv`` and ``OUT/comparison.md``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vosam.distributed.base import Executor
from vosam.distributed.segment import segment_dataset
from vosam.errors import InputError
from vosam.eval.results import SUMMARY_KEYS
from vosam.jsonfile import parse_json
from vosam.spec import RunSpec

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
SUMMARY_COLUMNS = SUMMARY_KEYS  # the table's figure columns: the DAVIS summary, in order


@dataclass(frozen=True)
class SweepRun:
    """One configuration of a sweep: a folder-safe ``name`` and the engine ``spec``."""

    name: str
    spec: RunSpec


@dataclass(frozen=True)
class SweepRow:
    """One run's line of the comparison table.

    Attributes:
        name: the run's name.
        settings: the run's settings, compact JSON.
        sequences: sequences scored.
        segmented: sequences segmented now (the others were already complete).
        seconds: wall time of this run's segmentation and evaluation.
        summary: the seven DAVIS figures (fractions), keys :data:`SUMMARY_COLUMNS`.
    """

    name: str
    settings: str
    sequences: int
    segmented: int
    seconds: float
    summary: dict[str, float]


def load_sweep(path: str | Path) -> tuple[list[SweepRun], list[str] | None]:
    """Read a sweep file (``.json`` or ``.toml``): its runs and its sequence list (or None).

    Raises:
        InputError: unreadable file, no runs, a duplicate or unsafe name, an unknown key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else parse_json(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"cannot read the sweep file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not data["runs"]:
        raise InputError(path, "a sweep file needs a non-empty list 'runs'")
    unknown = set(data) - {"runs", "sequences"}
    if unknown:
        raise InputError(path, f"unknown key(s) {', '.join(sorted(unknown))}")
    sequences = data.get("sequences")
    if sequences is not None and not (
        isinstance(sequences, list) and all(isinstance(s, str) for s in sequences)
    ):
        raise InputError(path, "'sequences' must be a list of names")
    runs: list[SweepRun] = []
    for i, entry in enumerate(data["runs"]):
        runs.append(_run_of(path, i, entry))
    names = [r.name for r in runs]
    for name in names:
        if names.count(name) > 1:
            raise InputError(path, f"run name {name!r} is used twice")
    return runs, sequences


def _run_of(path: Path, i: int, entry: Any) -> SweepRun:
    if not isinstance(entry, dict):
        raise InputError(path, f"runs[{i}] is not a table/object")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(
            path, f"runs[{i}] needs a 'name' of letters, digits, '.', '_', '+', '-' (got {name!r})"
        )
    try:
        spec = RunSpec.from_dict({k: v for k, v in entry.items() if k != "name"})
    except (ValueError, TypeError) as exc:
        raise InputError(path, f"run {name!r}: {exc}") from exc
    return SweepRun(name, spec)


def run_sweep(
    executor: Executor,
    runs: Sequence[SweepRun],
    root: str | Path,
    out: str | Path,
    *,
    sequences: Sequence[str] | None = None,
    resolution: str = "480p",
    overwrite: bool = False,
    report: Callable[[str], None] | None = None,
) -> list[SweepRow]:
    """Segment the DAVIS-layout ``root`` with every run and compare them.

    Writes ``out/<run>/<seq>/*.png`` and the table ``out/comparison.csv`` / ``.md``
    (rewritten after each run, so a stopped sweep leaves the rows done so far).
    ``report`` receives one line per finished run. Returns the rows.

    Raises:
        InputError: see :func:`~vosam.distributed.segment.plan_dataset` and
            :func:`vosam.eval.evaluate_dataset`.
    """
    from vosam.datasets.davis import find_davis_sequences
    from vosam.distributed.evaluate import evaluate_dataset_with

    root, out = Path(root), Path(out)
    seqs = find_davis_sequences(
        root, resolution=resolution, names=list(sequences) if sequences else None
    )
    names = [s.name for s in seqs]
    rows: list[SweepRow] = []
    for run in runs:
        start = time.perf_counter()
        outcomes, _done = segment_dataset(
            executor, seqs, out / run.name, run.spec, overwrite=overwrite
        )
        result = evaluate_dataset_with(
            executor, seqs[0].annotations.parent, out / run.name, sequences=names
        )
        row = SweepRow(
            run.name,
            json.dumps(run.spec.settings(), sort_keys=True, separators=(",", ":")),
            len(result.sequences),
            len(outcomes),
            time.perf_counter() - start,
            {k: float(result.summary[k]) for k in SUMMARY_COLUMNS},
        )
        rows.append(row)
        write_comparison(rows, out)
        if report is not None:
            report(f"{run.name}: J&F {row.summary['J&F-Mean']:.4f} ({row.seconds:.1f} s)")
    return rows


def write_comparison(rows: Sequence[SweepRow], out: str | Path) -> tuple[Path, Path]:
    """Write ``out/comparison.csv`` (full precision) and ``out/comparison.md`` (3 decimals)."""
    from vosam.io import atomic_write_text

    out = Path(out)
    header = ["run", *SUMMARY_COLUMNS, "sequences", "segmented", "seconds", "settings"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        figures = [repr(r.summary[k]) for k in SUMMARY_COLUMNS]
        writer.writerow(
            [r.name, *figures, r.sequences, r.segmented, f"{r.seconds:.2f}", r.settings]
        )
    csv_path, md_path = out / "comparison.csv", out / "comparison.md"
    atomic_write_text(csv_path, buf.getvalue())
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in rows:
        figures = [f"{r.summary[k]:.3f}" for k in SUMMARY_COLUMNS]
        settings = r.settings.replace("|", "\\|")
        cells = [r.name, *figures, str(r.sequences), str(r.segmented), f"{r.seconds:.1f}"]
        lines.append("| " + " | ".join([*cells, f"`{settings}`"]) + " |")
    atomic_write_text(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path
