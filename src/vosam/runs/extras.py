"""Outputs a run writes besides its folder (an overlay video, a preview JPEG, a scores
folder, a submission zip), and who owns them.

An extra output belongs to the run whose manifest records it: its path, and its SHA-256
(a file) or the SHA-256 of each of its files (a folder). A path that exists is written
over only when the manifest of the run's folder records it there, unchanged since:

- a file or folder the manifest does not record is refused, with or without
  ``overwrite`` (vosam cannot tell it from the user's own file);
- a recorded file whose SHA-256 changed since was edited by someone: refused, naming it;
- a live output (:attr:`Extra.live`, a preview replaced while the run goes on) is recorded
  by its path only, and one that a killed run was writing (its lock file says so) is
  vosam's too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vosam.errors import OutputError
from vosam.runs.leftovers import is_leftover
from vosam.runs.manifest import CHANGED, RUN_FILE, _files_under, _read_manifest, file_digest


@dataclass(frozen=True)
class Extra:
    """An output a run writes besides its folder.

    Attributes:
        key: its name in the manifest's ``extras`` (``overlay``, ``scores``, ``preview``,
            ``zip``).
        path: the file, or the folder of files.
        folder: a folder of files (scores) rather than one file.
        live: replaced while the run goes on (a preview to watch): recorded without a
            digest, since its content changes by design.
        spec: settings that decide its content, recorded beside its path (an overlay's
            frame rate).
    """

    key: str
    path: Path
    folder: bool = False
    live: bool = False
    spec: dict = field(default_factory=dict, hash=False)

    def request(self) -> dict:
        """What the manifest records of it besides digests: ``spec`` and the full path."""
        return {**self.spec, "path": str(Path(self.path).resolve())}


def requested(extras: Iterable[Extra]) -> dict[str, dict]:
    """``{key: request}`` of ``extras`` (see :func:`vosam.runs.output_state`)."""
    return {e.key: e.request() for e in extras}


def check_extras(
    out_dir: Path,
    extras: Sequence[Extra],
    *,
    left_by_killed: Iterable[Path] = (),
) -> None:
    """Refuse an extra output whose path holds what the run in ``out_dir`` (its
    ``run.json``) did not write, or wrote and someone changed since.

    ``left_by_killed``: live outputs a killed run was writing (vosam's, not recorded).

    Raises:
        OutputError: naming the file or folder and what to do.
    """
    manifest_path = Path(out_dir) / RUN_FILE
    manifest = _read_manifest(manifest_path)
    recorded = {
        Path(spec.get("path", "")).resolve(): spec
        for spec in ((manifest or {}).get("extras") or {}).values()
        if isinstance(spec, dict)
    }
    killed = {Path(p).resolve() for p in left_by_killed}
    for extra in extras:
        path = Path(extra.path)
        record = recorded.get(path.resolve())
        if extra.folder:
            _check_folder(path, record, manifest_path)
            continue
        if path.is_dir():
            raise OutputError(path, "is a folder; name a file")
        if not path.exists() and not path.is_symlink():
            continue
        if path.resolve() in killed and path.is_file():
            continue
        if record is None:
            raise OutputError(
                path,
                f"exists and {manifest_path} does not record it as written by vosam; "
                "choose another name, or move it away",
            )
        if "sha256" in record and file_digest(path) != record["sha256"]:
            raise OutputError(path, CHANGED.format(manifest=manifest_path))


def _check_folder(folder: Path, record: dict | None, manifest_path: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(folder, "exists and is not a folder")
    if not folder.is_dir():
        return
    digests = (record or {}).get("files") or {}
    foreign = []
    for rel in _files_under(folder):
        if is_leftover(rel):
            continue
        if rel not in digests:
            foreign.append(rel)
        elif file_digest(folder / rel) != digests[rel]:
            raise OutputError(folder / rel, CHANGED.format(manifest=manifest_path))
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise OutputError(
            folder,
            f"holds files that {manifest_path} does not record as written by vosam ({shown}); "
            "choose an empty or new folder",
        )
