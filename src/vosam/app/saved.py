"""Work that survives: a video's objects, annotations, corrections and propagated masks,
saved in the workspace as a vosam run, so that closing the browser, restarting the server
or opening the video again later continues the work.

Where: ``<workspace>/vosam-runs/<the video's path in the workspace>/`` (``clip`` →
``vosam-runs/clip/``, ``videos/dogs.mp4`` → ``vosam-runs/videos/dogs.mp4/``). Only videos
opened from the workspace are saved; an upload lives as long as its session.

What: the layout ``vosam segment`` writes, by the same writers (:func:`vosam.io.write_mask`,
:func:`vosam.io.write_frame_map`, :func:`vosam.runs.staged_run`):

- ``<frame>.png``: every frame's mask as the page shows it (the annotation, else the
  correction, else the propagated mask, else nothing), a DAVIS-palette PNG;
- ``annotations/<frame>.png``: the annotated frames alone, what ``vosam segment SOURCE
  --masks <folder>/annotations`` takes to go on from there;
- ``frames.csv`` and ``run.json``, whose settings say ``"command": "app"`` and hold the
  objects' names, the annotation files with their SHA-256 (``annotations``, as ``vosam
  segment`` records the masks it was given, so ``vosam suggest --results`` finds them),
  and which frames are corrected and propagated.

Each save goes through a staging folder committed at the end, so a folder holds one whole
save or the one before; frames that did not change are linked into the new save rather than
written again. A folder holding anything that is not an app run of this video (files vosam
did not write, another command's run, another video's work, a link) is never written to:
the page says why its work is not saved.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import vosam
from vosam.app.packed import PackedMasks
from vosam.app.workspace import relative
from vosam.errors import InputError, OutputError
from vosam.io import FrameSource, read_mask, write_frame_map, write_mask
from vosam.runs import (
    RUN_FILE,
    check_apart,
    file_digest,
    foreign_files,
    source_identity,
    staged_run,
)

log = logging.getLogger(__name__)

RUNS_DIR = "vosam-runs"
ANNOTATIONS_DIR = "annotations"
COMMAND = "app"


@dataclass
class Snapshot:
    """A session's work at one moment, to save.

    Attributes:
        names: the frame names, index-aligned with the video.
        objects: object id → name.
        annotations: annotated frame → ``uint8 (H, W)`` mask.
        corrections: corrected frame → mask (copy).
        results: propagated frame → mask (copy).
        changed: frames whose files must be written again; None: every frame.
        frames: the video, for ``frames.csv`` (only its names and files are read).
    """

    names: tuple[str, ...]
    objects: dict[int, str]
    annotations: dict[int, np.ndarray]
    corrections: PackedMasks
    results: PackedMasks
    changed: set[int] | None
    frames: FrameSource

    def shown(self, index: int) -> np.ndarray:
        """What frame ``index`` shows: ``uint8 (H, W)``."""
        if index in self.annotations:
            return self.annotations[index]
        if index in self.corrections:
            return self.corrections[index]
        if index in self.results:
            return self.results[index]
        return np.zeros(self.results.size, np.uint8)


@dataclass
class Loaded:
    """Work read back from a run folder (frame indices of the open video).

    Attributes:
        unreadable: frames whose file was missing or unreadable (left out; written again
            on the next save).
        note: what the page should be told (the video changed since, files left out).
    """

    objects: dict[int, str]
    annotations: dict[int, np.ndarray] = field(default_factory=dict)
    corrections: dict[int, np.ndarray] = field(default_factory=dict)
    results: dict[int, np.ndarray] = field(default_factory=dict)
    unreadable: set[int] = field(default_factory=set)
    note: str | None = None


class RunFolder:
    """The run folder of one workspace video (see the module docstring).

    Args:
        workspace: the workspace (resolved).
        video: the opened frame folder or video file (resolved, inside the workspace).
        engine: the settings of the engine that propagates (recorded in ``run.json``).
    """

    def __init__(self, workspace: Path, video: Path, engine: dict[str, Any]) -> None:
        self.workspace = workspace
        self.video = video
        self.rel = relative(workspace, video)
        self.path = workspace / RUNS_DIR / self.rel
        self.shown = f"{RUNS_DIR}/{self.rel}"
        self.engine = engine
        self._source_id: dict | None = None

    def problem(self) -> str | None:
        """Why the work cannot be saved here; None when it can."""
        if self.rel == ".":
            return "the workspace itself holds the frames; put them in a folder of it"
        try:
            check_apart([self.path], [self.video])
        except OutputError as e:
            return f"{self.shown} {e.problem}"
        part = self.workspace
        for name in Path(RUNS_DIR, self.rel).parts:
            part = part / name
            if part.is_symlink():
                return f"{relative(self.workspace, part)} is a link; the app writes no links"
            if part.exists() and not part.is_dir():
                return f"{relative(self.workspace, part)} is a file, not a folder"
        foreign = foreign_files(self.path)
        if foreign:
            shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
            return f"{self.shown} holds files vosam did not write ({shown})"
        settings = self._settings_on_disk()
        if settings is None:
            return None
        if settings.get("command") != COMMAND:
            what = settings.get("command") or "other"
            return f"{self.shown} holds the output of vosam {what}, not the app's work"
        if settings.get("video") != self.rel:
            return f"{self.shown} holds the work on {settings.get('video')!r}"
        return None

    def _settings_on_disk(self) -> dict | None:
        try:
            data = json.loads((self.path / RUN_FILE).read_text())
        except (OSError, ValueError):
            return None
        settings = data.get("settings") if isinstance(data, dict) else None
        return settings if isinstance(settings, dict) else None

    # -- reading ----------------------------------------------------------------------------

    def load(self, names: tuple[str, ...], size: tuple[int, int]) -> Loaded | None:
        """The work saved here for a video of frames ``names`` and ``size`` ``(H, W)``;
        None when nothing of this video is saved (call :meth:`problem` first).

        Raises:
            InputError: the saved work does not fit the video (another frame count or
                names), or run.json is damaged.
        """
        settings = self._settings_on_disk()
        if settings is None or settings.get("command") != COMMAND:
            return None
        try:
            objects = {int(k): str(v) for k, v in (settings.get("objects") or {}).items()}
            kinds = {
                "annotated": [Path(str(f)).stem for f in settings.get("annotations") or {}],
                "corrected": [str(n) for n in settings.get("corrected") or ()],
                "propagated": [str(n) for n in settings.get("propagated") or ()],
            }
        except (TypeError, ValueError, AttributeError):
            raise InputError(self.shown, "run.json is damaged; move the folder away") from None
        at = {name: i for i, name in enumerate(names)}
        if settings.get("frames") != len(names) or any(
            n not in at for listed in kinds.values() for n in listed
        ):
            raise InputError(
                self.shown,
                f"was saved for a video of {settings.get('frames')} frames with other "
                f"names; this one has {len(names)}. Move the folder away to start again",
            )
        loaded = Loaded({k: v for k, v in objects.items() if 1 <= k <= 254})
        sources = (
            ("annotated", loaded.annotations, ANNOTATIONS_DIR + "/"),
            ("corrected", loaded.corrections, ""),
            ("propagated", loaded.results, ""),
        )
        for kind, into, prefix in sources:
            for name in kinds[kind]:
                index = at[name]
                if kind == "propagated" and (
                    index in loaded.annotations or index in loaded.corrections
                ):
                    # what showed there was the annotation or correction; the prediction
                    # under it is not saved and comes back with the next propagation
                    continue
                mask = self._read(f"{prefix}{name}.png", size)
                if mask is None:
                    loaded.unreadable.add(index)
                else:
                    into[index] = mask
        notes = []
        if settings.get("source_id") != self.source_id():
            notes.append("the video's frames changed since this work was saved")
        if loaded.unreadable:
            notes.append(f"{len(loaded.unreadable)} saved masks were missing or unreadable")
        loaded.note = "; ".join(notes) or None
        log.info("restored %s: %s", self.shown, {k: len(v) for k, v in kinds.items()})
        return loaded

    def _read(self, rel: str, size: tuple[int, int]) -> np.ndarray | None:
        try:
            return read_mask(self.path / rel, expected_size=size)
        except InputError as e:
            log.warning("%s/%s: %s", self.shown, rel, e.problem)
            return None

    def source_id(self) -> dict:
        """The identity of the video's frames (their digest or sizes and times)."""
        if self._source_id is None:
            self._source_id = source_identity(self.video)
        return self._source_id

    # -- writing ----------------------------------------------------------------------------

    def save(self, snap: Snapshot) -> None:
        """Write ``snap`` as this folder's run, replacing the previous save.

        Raises:
            OutputError: the folder may not be written (see :meth:`problem`).
            OSError: the disk refused.
        """
        problem = self.problem()
        if problem is not None:
            raise OutputError(None, problem)
        names = snap.names
        settings = {
            "command": COMMAND,
            "video": self.rel,
            "source": str(self.video),
            "source_id": self.source_id(),
            "frames": len(names),
            "version": vosam.__version__,
            **self.engine,
            "objects": {str(k): v for k, v in sorted(snap.objects.items())},
            "annotations": {},  # filled once written
            "corrected": [names[i] for i in sorted(snap.corrections)],
            "propagated": [names[i] for i in sorted(snap.results)],
        }
        with staged_run(self.path, settings) as run:
            for index, name in enumerate(names):
                self._put(run.path, f"{name}.png", snap, index, snap.shown)
            if snap.annotations:
                (run.path / ANNOTATIONS_DIR).mkdir()
            for index in sorted(snap.annotations):
                rel = f"{ANNOTATIONS_DIR}/{names[index]}.png"
                self._put(run.path, rel, snap, index, snap.annotations.__getitem__)
                run.settings["annotations"][f"{names[index]}.png"] = file_digest(run.path / rel)
            write_frame_map(run.path, snap.frames)
            run.frames = len(names)

    def _put(
        self,
        stage: Path,
        rel: str,
        snap: Snapshot,
        index: int,
        mask_of: Callable[[int], np.ndarray],
    ) -> None:
        """``stage/rel``: the file saved before when frame ``index`` did not change since,
        else written from ``mask_of(index)``."""
        old = self.path / rel
        unchanged = snap.changed is not None and index not in snap.changed
        if unchanged and old.is_file() and not old.is_symlink():
            try:
                os.link(old, stage / rel)
            except OSError:  # a file system without hard links
                shutil.copyfile(old, stage / rel)
            return
        write_mask(stage / rel, mask_of(index))
