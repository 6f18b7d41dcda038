"""Writing one video's results into an output folder, safely.

An output folder holds one run: palette PNGs named after the frames, ``frames.csv`` (frame
index ↔ name ↔ source file) and ``run.json`` (what produced it, whether it finished, and
the SHA-256 of each file).
Re-running with the same settings into a finished folder does nothing; a folder holding a
different or unfinished run is refused unless ``overwrite`` is given, so two runs never mix.
Each PNG is written atomically; ``run.json`` is marked complete only at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vosam.engines import StepResult
from vosam.errors import OutputError
from vosam.io import (
    OverlayVideoWriter,
    atomic_write,
    atomic_write_text,
    write_frame_map,
    write_mask,
)
from vosam.progress import Progress
from vosam.session import Session

RUN_FILE = "run.json"


def settings_fingerprint(settings: dict) -> str:
    """Stable hash of a JSON-able settings dict."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def prepare_output(
    out_dir: Path, *, inputs: list[Path], settings: dict, names: tuple[str, ...], overwrite: bool
) -> bool:
    """Check ``out_dir`` and make it ready. Returns False when the same run is already done.

    Raises:
        OutputError: the folder is an input folder (or inside one), is not writable, or holds
            a different or unfinished run and ``overwrite`` is False.
    """
    for path in inputs:
        if path.is_dir() and (_inside(out_dir, path) or _inside(path, out_dir)):
            raise OutputError(out_dir, f"output folder overlaps the input folder {path}")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "exists and is not a folder")
    manifest = out_dir / RUN_FILE
    fingerprint = settings_fingerprint(settings)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if is_complete(out_dir, settings, names):
            return False
        previous = _read_manifest(manifest)
        same = previous is not None and previous.get("fingerprint") == fingerprint
        if not overwrite:
            what = "an unfinished run" if same else "results of another run"
            raise OutputError(out_dir, f"holds {what}; choose an empty folder or pass --overwrite")
        for item in out_dir.iterdir():
            if item.is_dir():
                shutil.rmtree(item)
            else:
                item.unlink()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out_dir, f"cannot create the folder ({exc.strerror})") from exc
    if not os.access(out_dir, os.W_OK):
        raise OutputError(out_dir, "folder is not writable")
    _write_manifest(manifest, {"fingerprint": fingerprint, "settings": settings, "complete": False})
    return True


def finish_output(out_dir: Path, settings: dict, frames: int) -> None:
    """Mark the run in ``out_dir`` complete, recording the SHA-256 of every file written."""
    _write_manifest(
        out_dir / RUN_FILE,
        {
            "fingerprint": settings_fingerprint(settings),
            "settings": settings,
            "complete": True,
            "frames": frames,
            "files": {
                p.name: file_digest(p)
                for p in sorted(out_dir.iterdir())
                if p.is_file() and p.name != RUN_FILE and not p.name.startswith(".")
            },
        },
    )


def is_complete(out_dir: Path, settings: dict, names: tuple[str, ...]) -> bool:
    """True when ``out_dir`` holds a finished run of ``settings`` with every frame written
    and every recorded file unchanged (see :func:`incomplete_reason`)."""
    return incomplete_reason(out_dir, settings, names) is None


def incomplete_reason(out_dir: Path, settings: dict, names: tuple[str, ...]) -> str | None:
    """Why ``out_dir`` is not a finished run of ``settings``, or None when it is.

    Verified, not just present: a frame's PNG must exist, and each file whose digest the
    manifest records must still have that digest (a truncated or overwritten mask fails).
    """
    previous = _read_manifest(out_dir / RUN_FILE)
    if previous is None:
        return "no readable run.json"
    if previous.get("fingerprint") != settings_fingerprint(settings):
        return "run.json records other settings"
    if previous.get("complete") is not True:
        return "the run did not finish"
    for name in names:
        if not (out_dir / f"{name}.png").is_file():
            return f"{name}.png is missing"
    for file, digest in (previous.get("files") or {}).items():
        path = out_dir / file
        if not path.is_file():
            return f"{file} is missing"
        if file_digest(path) != digest:
            return f"{file} differs from the digest recorded when it was written"
    return None


def same_run(out_dir: Path, settings: dict) -> bool:
    """True when ``out_dir``'s run.json records a run of ``settings`` (finished or not)."""
    previous = _read_manifest(out_dir / RUN_FILE)
    return previous is not None and previous.get("fingerprint") == settings_fingerprint(settings)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_manifest(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@dataclass
class Sinks:
    """Where each propagated frame goes besides the palette PNG."""

    scores_dir: Path | None = None
    overlay: OverlayVideoWriter | None = None


def write_results(
    session: Session,
    results: Iterator[tuple[int, np.ndarray, StepResult]],
    out_dir: Path,
    *,
    sinks: Sinks | None = None,
    progress: Progress | None = None,
) -> int:
    """Consume ``(index, image, result)``: a palette PNG per frame, plus scores and overlay.

    Returns the number of frames written.
    """
    sinks = sinks or Sinks()
    write_frame_map(out_dir, session.source)
    count = 0
    for index, image, result in results:
        name = session.names[index]
        mask = result.mask
        write_mask(out_dir / f"{name}.png", mask)
        if sinks.scores_dir is not None:
            _save_scores(sinks.scores_dir / f"{name}.npy", result.probs)
        if sinks.overlay is not None:
            sinks.overlay.write(image, mask)
        count += 1
        if progress is not None:
            progress.update()
    return count


def _save_scores(path: Path, probs: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.save(f, probs.astype(np.float32, copy=False))
