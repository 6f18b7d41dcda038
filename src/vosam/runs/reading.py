"""Reading a finished run back: its masks, one per frame, and the frames it was given.

``vosam suggest --results`` works from the masks ``vosam segment`` wrote instead of
propagating again: :class:`ResultMasks` reads a frame's mask only when asked for it, and
:func:`given_frames` says which frames were annotated or prompted, from the run's
``run.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np

from vosam.errors import InputError
from vosam.io import frame_matcher, read_mask
from vosam.runs.manifest import RUN_FILE, source_identity

__all__ = ["ResultMasks", "given_frames", "read_run"]

PROMPTS_DIR = "prompts"


def read_run(folder: str | Path) -> dict:
    """The manifest of a finished run in ``folder``.

    Raises:
        InputError: no readable ``run.json``, or a run that did not finish.
    """
    folder = Path(folder)
    path = folder / RUN_FILE
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(folder, f"no {RUN_FILE}: not the output folder of a vosam run") from None
    except (OSError, ValueError) as e:
        raise InputError(path, f"cannot read the run's manifest ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("settings"), dict):
        raise InputError(path, "not a vosam run manifest")
    if manifest.get("complete") is not True:
        raise InputError(folder, "the run did not finish: run it again to complete it")
    return manifest


def given_frames(
    folder: str | Path, names: Sequence[str], source: str | Path | None = None
) -> list[int]:
    """Indices of the frames annotated or prompted in the finished run in ``folder``: its
    annotation files (``settings.annotations``) and prompted frames (``prompts/``), matched
    to ``names`` as annotations are (an exact name, or the same number).

    With ``source``, the run must have been made from those frames (its recorded
    ``source_id``).

    Raises:
        InputError: see :func:`read_run`; a run of another video; a run that names frames
            the video lacks; a run without any annotated frame.
    """
    folder = Path(folder)
    manifest = read_run(folder)
    settings = manifest["settings"]
    recorded = settings.get("source_id")
    if source is not None and recorded is not None and recorded != source_identity(source):
        raise InputError(
            folder, f"holds the results of another video ({settings.get('source', '?')})"
        )
    files = list(settings.get("annotations") or {})
    files += [name for name in manifest.get("files", {}) if name.startswith(f"{PROMPTS_DIR}/")]
    match = frame_matcher(names)
    found = set()
    for file in files:
        stem = Path(file).stem
        index = match(stem)
        if index is None:
            raise InputError(folder, f"the run annotates frame '{stem}', which the video lacks")
        found.add(index)
    if not found:
        raise InputError(folder, "the run names no annotated frame: give --masks")
    return sorted(found)


class ResultMasks(Sequence[np.ndarray]):
    """Every frame's mask in a results folder (``<folder>/<frame name>.png``), read when
    indexed: ``uint8 (H, W)`` ids, checked against the frame size.

    Raises:
        InputError: (on construction) a frame without its mask file, naming the first ones.
    """

    def __init__(self, folder: str | Path, names: Sequence[str], size: tuple[int, int]) -> None:
        self.folder = Path(folder)
        self.size = size
        self.files = [self.folder / f"{name}.png" for name in names]
        missing = [f.name for f in self.files if not f.is_file()]
        if missing:
            shown = ", ".join(missing[:3])
            if len(missing) > 3:
                shown += f" and {len(missing) - 3} more"
            raise InputError(
                self.folder,
                f"no mask for {len(missing)} of the {len(names)} frames ({shown}): give the "
                "output folder of a finished vosam segment run of this video",
            )

    def __len__(self) -> int:
        return len(self.files)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return read_mask(self.files[index], expected_size=self.size)
