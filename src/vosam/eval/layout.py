"""Where the masks are: ground-truth and prediction folder layouts the evaluator reads.

Ground truth (``GT_ROOT``), the first layout that matches wins:

1. ``GT_ROOT/Annotations_unsupervised/480p/<seq>/*.png`` (unsupervised protocol only)
2. ``GT_ROOT/Annotations/480p/<seq>/*.png`` (DAVIS)
3. ``GT_ROOT/Annotations/<seq>/*.png`` (LVOS, YouTube-VOS style)
4. ``GT_ROOT/<seq>/Annotations/*.png`` (one folder per video, as XMem++ examples)
5. ``GT_ROOT/<seq>/*.png``

Predictions: ``PRED_ROOT/<seq>/<frame>.png``, the frame named as its ground truth.

Mask files are read with :func:`vosam.eval.pngmask.read_label_png`: palette PNGs give ids
(255 void), binary 0/255 greyscale PNGs give object 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vosam.eval.errors import LayoutError, MissingPredictionError
from vosam.eval.pngmask import natural_key, read_label_png
from vosam.eval.sequence import MaskReader

__all__ = [
    "FileMaskReader",
    "find_ground_truth",
    "list_frames",
    "parse_sequence_list",
]

_LAYOUTS = (
    "Annotations_unsupervised/480p/<seq>/*.png",
    "Annotations/480p/<seq>/*.png",
    "Annotations/<seq>/*.png",
    "<seq>/Annotations/*.png",
    "<seq>/*.png",
)


def list_frames(folder: Path) -> list[str]:
    """Stems of the .png files in ``folder`` (hidden ones ignored), in natural order."""
    stems = [p.stem for p in folder.iterdir() if p.suffix.lower() == ".png" and p.name[0] != "."]
    return sorted(stems, key=natural_key)


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_ground_truth(root: str | Path, *, protocol: str = "semi-supervised") -> dict[str, Path]:
    """Sequence name → folder of its ground-truth masks, per the layouts above."""
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(root, "ground-truth folder does not exist")
    candidates = []
    if protocol == "unsupervised":
        candidates.append(root / "Annotations_unsupervised" / "480p")
    candidates += [root / "Annotations" / "480p", root / "Annotations"]
    for base in candidates:
        if base.is_dir():
            found = {d.name: d for d in _subdirs(base) if list_frames(d)}
            if found:
                return found
    found = {}
    for d in _subdirs(root):
        nested = d / "Annotations"
        if nested.is_dir() and list_frames(nested):
            found[d.name] = nested
        elif list_frames(d):
            found[d.name] = d
    if not found:
        raise LayoutError(
            root, "no sequence of ground-truth masks found; expected " + " or ".join(_LAYOUTS)
        )
    return found


def parse_sequence_list(spec: str | Path | Iterable[str] | None) -> list[str] | None:
    """Sequence names from a comma-separated string, a text file (one per line, like DAVIS
    ``ImageSets/2017/val.txt``) or an iterable; None means all."""
    if spec is None:
        return None
    if isinstance(spec, Path) or (isinstance(spec, str) and Path(spec).is_file()):
        path = Path(spec)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise LayoutError(path, f"cannot read the sequence list ({e})") from e
        names = [line.strip() for line in text.splitlines()]
    elif isinstance(spec, str):
        if spec.endswith(".txt") or "/" in spec:
            raise LayoutError(spec, "sequence list file does not exist")
        names = [s.strip() for s in spec.split(",")]
    else:
        names = [str(s).strip() for s in spec]
    return [n for n in names if n]


class FileMaskReader(MaskReader):
    """Masks of one sequence read from ``folder/<frame>.png``."""

    def __init__(self, folder: Path, *, prediction: bool) -> None:
        self.folder = Path(folder)
        self.prediction = prediction
        self._present: set[str] | None = None

    def where(self, frame: str) -> str:
        return str(self.folder / f"{frame}.png")

    def has(self, frame: str) -> bool:
        if self._present is None:
            self._present = set(list_frames(self.folder)) if self.folder.is_dir() else set()
        return frame in self._present

    def read(self, frame: str) -> np.ndarray:
        path = self.folder / f"{frame}.png"
        if self.prediction and not path.is_file():
            raise MissingPredictionError(path, "predicted mask is missing")
        return read_label_png(path)
