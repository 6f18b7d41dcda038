"""The zip an evaluation server takes: only the result PNGs, in the format's layout.

Result folders also hold ``run.json`` and ``frames.csv`` (vosam's records); servers want
the masks alone. For every sequence the zip holds ``<output>/<frame>.png`` with
``<output>`` the sequence's folder under the output root: ``Annotations/<video>/`` for
YouTube-VOS (its CodaLab server), ``<video>/`` for DAVIS and LVOS.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from vosam.datasets.base import DatasetSequence
from vosam.errors import InputError
from vosam.io import atomic_path

__all__ = ["write_submission"]


def write_submission(
    zip_path: str | Path, out_root: str | Path, sequences: Sequence[DatasetSequence]
) -> int:
    """Write ``zip_path`` holding the result PNGs of ``sequences`` under ``out_root``;
    returns the number of masks in it. The zip appears only once complete.

    Raises:
        InputError: a sequence has no results under ``out_root`` (run it first).
    """
    out_root = Path(out_root)
    members: list[tuple[Path, str]] = []
    for seq in sequences:
        folder = out_root / seq.output
        pngs = sorted(folder.glob("*.png")) if folder.is_dir() else []
        if not pngs:
            raise InputError(folder, f"no results for sequence '{seq.name}'")
        members += [(p, (seq.output / p.name).as_posix()) for p in pngs]
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for path, name in members:
            zf.write(path, name)  # PNGs are compressed already
    return len(members)
