"""The DAVIS layout: ``JPEGImages/<res>/<seq>/*.jpg`` and ``Annotations/<res>/<seq>/*.png``.

Also accepted without the resolution level (``JPEGImages/<seq>``), as in DAVIS-style
subsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
