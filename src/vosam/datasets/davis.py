"""The DAVIS layout: ``JPEGImages/<res>/<seq>/*.jpg`` and ``Annotations/<res>/<seq>/*.png``.

Also accepted without the resolution level (``JPEGImages/<seq>``), as in DAVIS-style
subsets. DAVIS 2016 masks are greyscale 0/255 (one object), DAVIS 2017 masks palette PNGs
whose indices are object ids (255 void); :func:`vosam.io.read_mask` reads both. Splits are
listed in ``ImageSets/2016/val.txt``, ``ImageSets/2017/val.txt`` (one name per line).
Results: ``OUT/<seq>/<frame>.png`` for every frame (the evaluation skips the first and the
last frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vosam.datasets.base import AnnotationInput, DatasetSequence, mismatch
from vosam.errors import InputError
from vosam.io import natural_sorted


@dataclass(frozen=True)
class DavisSequence:
    """One sequence: its frame folder and its annotation folder."""

    name: str
    frames: Path
    annotations: Path

    def first_annotation(self) -> Path:
        """The first annotation PNG in natural order."""
        pngs = [p for p in self.annotations.iterdir() if p.suffix.lower() == ".png"]
        if not pngs:
            raise InputError(self.annotations, "no annotation PNG in this sequence")
        by_name = {p.name: p for p in pngs}
        return by_name[natural_sorted(list(by_name))[0]]

    def described(self) -> DatasetSequence:
        """This sequence as a :class:`DatasetSequence`: input its first annotation (every
        object of it), write every frame to ``<name>/``."""
        first = self.first_annotation()
        return DatasetSequence(
            name=self.name,
            frames=self.frames,
            inputs={first.stem: AnnotationInput(first)},
            starts={},
            write=None,
            output=Path(self.name),
            annotations=self.annotations,
        )


def _level(root: Path, kind: str, resolution: str) -> Path:
    base = root / kind
    if not base.is_dir():
        raise InputError(root, f"not a DAVIS-layout root: no {kind}/ folder")
    with_res = base / resolution
    return with_res if with_res.is_dir() else base


def find_davis_sequences(
    root: str | Path, *, resolution: str = "480p", names: list[str] | None = None
) -> list[DavisSequence]:
    """Sequences of a DAVIS-layout ``root``, sorted by name (or in the order of ``names``).

    Raises:
        InputError: not a DAVIS layout, a requested sequence is missing, or a sequence has
            frames but no annotation folder.
    """
    root = Path(root)
    frames_dir = _level(root, "JPEGImages", resolution)
    ann_dir = _level(root, "Annotations", resolution)
    available = sorted(p.name for p in frames_dir.iterdir() if p.is_dir())
    if not available:
        raise InputError(frames_dir, "no sequence folders")
    chosen = names if names is not None else available
    out = []
    for name in chosen:
        if name not in available:
            raise InputError(frames_dir / name, f"no such sequence (have {len(available)})")
        annotations = ann_dir / name
        if not annotations.is_dir():
            raise InputError(annotations, "sequence has frames but no annotation folder")
        out.append(DavisSequence(name, frames_dir / name, annotations))
    return out


def _split_names(root: Path, split: str | None) -> list[str] | None:
    """Names of ``ROOT/ImageSets/<split>.txt`` (``2017/val``, ``2016/val``) or of a file."""
    if split is None:
        return None
    path = Path(split)
    if not path.is_file():
        path = root / "ImageSets" / f"{split}.txt"
    if not path.is_file():
        raise InputError(path, f"no list of the split '{split}' (expected ImageSets/<split>.txt)")
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]


def read_davis(
    root: str | Path,
    *,
    split: str | None = None,
    names: list[str] | None = None,
    resolution: str = "480p",
) -> list[DatasetSequence]:
    """DAVIS 2016 (0/255 masks) and 2017 (palette PNGs), semi-supervised.

    The input is the first annotation of each sequence (every object of it); every frame
    is written to ``OUT/<seq>/<frame>.png``, the layout the DAVIS evaluation reads. ``split``
    names a list under ``ROOT/ImageSets`` (``2017/val``) or a file of names.
    """
    root = Path(root)
    if not (root / "JPEGImages").is_dir() or not (root / "Annotations").is_dir():
        mismatch(root, "DAVIS", ["JPEGImages/<res>/<seq>/*.jpg", "Annotations/<res>/<seq>/*.png"])
    wanted = names if names is not None else _split_names(root, split)
    return [
        seq.described() for seq in find_davis_sequences(root, resolution=resolution, names=wanted)
    ]
