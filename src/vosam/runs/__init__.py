"""Writing one video's results into an output folder, safely.

An output folder holds one run: palette PNGs named after the frames, ``frames.csv`` (frame
index ↔ name ↔ source file) and ``run.json``, the manifest: what produced the run (its
settings, which include the digests of the annotations, the identity of the source and the
device), whether it finished, every file it wrote with its SHA-256, and the extra outputs it
wrote elsewhere (an overlay video, a scores folder).

Rules:

- an output (the folder, an overlay, a scores folder) that is an input, contains one, or
  lies inside an input folder is refused, with or without ``overwrite``;
- a folder holding files that no vosam run wrote is refused (``overwrite`` does not apply);
- a finished run of the same settings is not redone; when only outputs were added (an
  overlay, scores), the run is redone to write them;
- an unfinished or damaged run of the same settings is redone;
- a run of other settings or inputs (stale: an annotation or the video changed since) is
  refused unless ``overwrite``; then only the files its manifest lists are removed.

A run writes into a hidden staging folder inside the output folder (``.vosam-partial-*``)
and moves its files into place only when it finished; a run that fails leaves the folder as
it found it (:func:`staged_run`).
"""

from __future__ import annotations

from typing import Any

from vosam.runs.manifest import (
    RUN_FILE,
    SMALL_SOURCE_BYTES,
    STAGING_PREFIX,
    OutputState,
    check_apart,
    check_output,
    file_digest,
    foreign_files,
    input_digest,
    listed_files,
    output_state,
    remove_run,
    settings_fingerprint,
    source_identity,
)
from vosam.runs.reading import ResultMasks, given_frames, read_run
from vosam.runs.staging import (
    StagedRun,
    clear_overlay_leftovers,
    finish_output,
    incomplete_reason,
    is_complete,
    prepare_output,
    same_run,
    staged_run,
)

__all__ = [
    "RUN_FILE",
    "SMALL_SOURCE_BYTES",
    "STAGING_PREFIX",
    "OutputState",
    "ResultMasks",
    "StagedRun",
    "check_apart",
    "check_output",
    "clear_overlay_leftovers",
    "file_digest",
    "finish_output",
    "foreign_files",
    "given_frames",
    "incomplete_reason",
    "input_digest",
    "is_complete",
    "listed_files",
    "output_state",
    "prepare_output",
    "read_run",
    "remove_run",
    "same_run",
    "settings_fingerprint",
    "source_identity",
    "staged_run",
    "write_results",
]

# the writers of a session's results import the session (and so the engines): only on use,
# so that commands that only check outputs (``vosam eval --out``) stay free of torch
_LAZY = {"write_results": "vosam.runs.results"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vosam.runs' has no attribute {name!r}")
