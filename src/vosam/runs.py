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

import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache
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
from vosam.io.atomic import _TMP_PREFIX
from vosam.io.frames import FRAME_SUFFIXES
from vosam.progress import Progress
from vosam.session import Session

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
STAGING_PREFIX = ".vosam-partial-"
SMALL_SOURCE_BYTES = 64 * 2**20
"""Sources up to this size are identified by their content's SHA-256, larger ones by the
size and modification time of their files."""

# settings whose change means the inputs changed (the results are stale)
_INPUT_KEYS = ("source_id", "annotations", "frames_id", "inputs", "boxes_sha256")


def settings_fingerprint(settings: dict) -> str:
    """Stable hash of a JSON-able settings dict."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=4096)
def _cached_digest(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(Path(path))


def input_digest(path: str | Path) -> str:
    """SHA-256 of an input file, computed once per process for an unchanged file (a
    dataset's annotation JSON is read by every sequence)."""
    path = Path(path).resolve()
    st = path.stat()
    return _cached_digest(str(path), st.st_size, st.st_mtime_ns)


def source_identity(path: str | Path) -> dict:
    """What identifies a video's frames: the SHA-256 of their content when they total at
    most :data:`SMALL_SOURCE_BYTES`, else their sizes and modification times.

    A frame folder counts its frame files (``.jpg``, ``.jpeg``, ``.png``, not hidden).
    """
    path = Path(path)
    if not path.is_dir():
        st = path.stat()
        if st.st_size <= SMALL_SOURCE_BYTES:
            return {"bytes": st.st_size, "sha256": input_digest(path)}
        return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    files = sorted(
        (p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.name[0] != "."),
        key=lambda p: p.name,
    )
    stats = [(p, p.stat()) for p in files]
    total = sum(st.st_size for _, st in stats)
    h = hashlib.sha256()
    small = total <= SMALL_SOURCE_BYTES
    for p, st in stats:
        entry = input_digest(p) if small else f"{st.st_size}:{st.st_mtime_ns}"
        h.update(f"{p.name}\0{entry}\n".encode())
    return {"files": len(files), "bytes": total, "sha256" if small else "stat": h.hexdigest()}


# -- inputs and outputs apart ---------------------------------------------------------


def _under(child: Path, parent: Path) -> bool:
    """``child`` is ``parent`` or inside it (both resolved)."""
    return child == parent or parent in child.parents


def check_apart(outputs: Iterable[Path | None], inputs: Iterable[Path | None]) -> None:
    """Refuse an output that is an input, contains one, or lies inside an input folder.

    Raises:
        OutputError: naming the output and the input.
    """
    ins = [(Path(i), Path(i).resolve()) for i in inputs if i is not None]
    for out in outputs:
        if out is None:
            continue
        o = Path(out).resolve()
        for given, i in ins:
            if o == i:
                raise OutputError(out, f"is the input {given}; choose another output")
            if _under(i, o):
                raise OutputError(out, f"contains the input {given}; choose another output")
            if given.is_dir() and _under(o, i):
                raise OutputError(out, f"is inside the input folder {given}")


# -- what a folder holds --------------------------------------------------------------


def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "fingerprint" in data else None


def _write_manifest(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def _ours(rel: str) -> bool:
    """Leftovers of a vosam write: temporary files and staging folders."""
    parts = rel.split("/")
    return parts[-1].startswith(_TMP_PREFIX) or any(p.startswith(STAGING_PREFIX) for p in parts)


def _files_under(folder: Path) -> list[str]:
    """Relative POSIX paths of every file under ``folder`` (links counted as files)."""
    out = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        out.extend((base / f).as_posix() for f in files)
        out.extend((base / d).as_posix() for d in dirs if (Path(root) / d).is_symlink())
    return sorted(out)


def listed_files(manifest: dict | None, out_dir: Path) -> set[str]:
    """Files of ``out_dir`` (relative paths) that the run of ``manifest`` wrote."""
    if manifest is None:
        return set()
    listed = {str(f) for f in manifest.get("outputs") or ()}
    listed |= {str(f) for f in manifest.get("files") or {}}
    base = out_dir.resolve()
    for extra in (manifest.get("extras") or {}).values():
        target = Path(extra.get("path", ""))
        names = list(extra.get("files") or {}) if "files" in extra else [None]
        for name in names:
            path = (target / name) if name is not None else target
            with suppress(ValueError):
                listed.add(path.resolve().relative_to(base).as_posix())
    return listed


def foreign_files(out_dir: Path) -> list[str]:
    """Files in ``out_dir`` that no vosam run wrote (not in its manifest, not vosam's
    temporary files), as relative paths."""
    if not out_dir.is_dir():
        return []
    manifest = _read_manifest(out_dir / RUN_FILE)
    listed = listed_files(manifest, out_dir)
    if manifest is not None:
        listed.add(RUN_FILE)
    return [f for f in _files_under(out_dir) if f not in listed and not _ours(f)]


@dataclass(frozen=True)
class OutputState:
    """What an output folder holds with respect to a run.

    Attributes:
        kind: ``empty`` (missing, empty, or only vosam's leftovers), ``done`` (this run,
            finished and verified), ``extend`` (this run, finished, lacking a requested
            output), ``redo`` (this run, unfinished or damaged), ``other`` (a run of other
            settings or inputs) or ``foreign`` (files no vosam run wrote).
        reason: why, for messages (None for ``empty`` and ``done``).
        stale: for ``other``: the inputs changed (annotations, video), not the settings.
    """

    kind: str
    reason: str | None = None
    stale: bool = False


def output_state(
    out_dir: Path,
    settings: dict,
    names: Sequence[str],
    *,
    requested: dict | None = None,
) -> OutputState:
    """Classify ``out_dir`` for a run of ``settings`` writing ``names`` (read only).

    ``requested``: extra outputs asked for, ``{key: spec}`` with ``spec["path"]`` (see
    :class:`StagedRun`); a finished run lacking one of them is ``extend``.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return OutputState("empty")
    foreign = foreign_files(out_dir)
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        return OutputState("foreign", shown)
    previous = _read_manifest(out_dir / RUN_FILE)
    if previous is None:
        return OutputState("empty")
    if previous.get("fingerprint") != settings_fingerprint(settings):
        return _other(previous.get("settings") or {}, settings)
    if previous.get("complete") is not True:
        return OutputState("redo", "the run did not finish")
    skipped = set(previous.get("skipped") or ())
    for name in names:
        if name not in skipped and not (out_dir / f"{name}.png").is_file():
            return OutputState("redo", f"{name}.png is missing")
    for file, digest in (previous.get("files") or {}).items():
        path = out_dir / file
        if not path.is_file():
            return OutputState("redo", f"{file} is missing")
        if file_digest(path) != digest:
            return OutputState(
                "redo", f"{file} differs from the digest recorded when it was written"
            )
    for key, spec in (requested or {}).items():
        if spec is None:
            continue
        reason = _extra_missing(key, spec, (previous.get("extras") or {}).get(key))
        if reason is not None:
            return OutputState("extend", reason)
    return OutputState("done")


def _other(previous: dict, settings: dict) -> OutputState:
    keys = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
    inputs = [k for k in keys if k in _INPUT_KEYS]
    if inputs and len(inputs) == len(keys):
        what = ", ".join(_INPUT_NAMES.get(k, k) for k in inputs)
        return OutputState("other", f"made from other inputs ({what} changed since)", stale=True)
    return OutputState("other", f"made with other settings ({', '.join(keys)})")


_INPUT_NAMES = {
    "source_id": "the video",
    "frames_id": "the frames",
    "annotations": "the annotations",
    "inputs": "the annotations",
    "boxes_sha256": "the boxes",
}


def _extra_missing(key: str, spec: dict, recorded: dict | None) -> str | None:
    """Why the requested extra output ``spec`` is not what the run recorded, or None."""
    if recorded is None or any(recorded.get(k) != v for k, v in spec.items()):
        return f"the {key} output was not written by this run"
    target = Path(recorded["path"])
    if "files" in recorded:
        for name, digest in recorded["files"].items():
            path = target / name
            if not path.is_file() or file_digest(path) != digest:
                return f"{path} is missing or changed"
        return None
    if not target.is_file() or file_digest(target) != recorded.get("sha256"):
        return f"{target} is missing or changed"
    return None


def check_output(
    out_dir: Path,
    *,
    settings: dict,
    names: Sequence[str],
    overwrite: bool,
    requested: dict | None = None,
) -> OutputState:
    """:func:`output_state` with the rules applied: returns the state when the run may
    go ahead (or is ``done``).

    Raises:
        OutputError: the path is not a folder, holds files no vosam run wrote, or holds a
            run of other settings or inputs and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "exists and is not a folder")
    state = output_state(out_dir, settings, names, requested=requested)
    if state.kind == "foreign":
        raise OutputError(
            out_dir,
            f"holds files that are not from a vosam run ({state.reason}); "
            "choose an empty or new folder",
        )
    if state.kind == "other" and not overwrite:
        if state.stale:
            raise OutputError(
                out_dir, f"holds stale results {state.reason}; pass --overwrite to redo them"
            )
        raise OutputError(
            out_dir,
            f"holds results {state.reason}; choose another folder or pass --overwrite to "
            "replace them",
        )
    if state.kind in ("redo", "extend"):
        log.info("%s: %s; running again", out_dir, state.reason)
    return state


def remove_run(folder: Path) -> list[str]:
    """Remove what the vosam run in ``folder`` wrote (the files its manifest lists, its
    manifest and vosam's leftovers), then empty sub-folders. Files outside ``folder`` are
    never touched. Returns the files left (not vosam's)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    listed = listed_files(_read_manifest(folder / RUN_FILE), folder) | {RUN_FILE}
    base = folder.resolve()
    for rel in _files_under(folder):
        if rel in listed or _ours(rel):
            path = folder / rel
            if not _under(path.parent.resolve(), base):
                continue  # a listed name that leads out of the folder
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with suppress(FileNotFoundError):
                    path.unlink()
    for root, _dirs, _files in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        if Path(root) != folder:
            with suppress(OSError):
                Path(root).rmdir()
    for stage in folder.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stage, ignore_errors=True)
    return _files_under(folder)


def _clear_leftovers(folder: Path, pattern: str = "*") -> None:
    """Remove vosam's temporary files and staging folders left in ``folder`` by a run that
    was killed (``pattern``: the temporary files' name after the prefix and token)."""
    if not folder.is_dir():
        return
    for tmp in folder.glob(f"{_TMP_PREFIX}{pattern}"):
        if tmp.is_file():
            log.debug("removing leftover %s", tmp)
            with suppress(FileNotFoundError):
                tmp.unlink()
    for stage in folder.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stage, ignore_errors=True)


# -- staged runs ------------------------------------------------------------------------


@dataclass
class StagedRun:
    """A run being written: files go to :attr:`path` (a staging folder inside the output
    folder) and are moved into place by :meth:`commit`.

    Attributes:
        out_dir: the output folder.
        settings: the run's settings (recorded, and fingerprinted, in ``run.json``).
        path: where to write the run's files now.
        frames: frames written (set by the writer; recorded).
        skipped: frame names skipped as damaged → why (recorded; not expected on re-runs).
        extras: extra outputs recorded, ``{key: spec}``; see :meth:`stage_folder` and
            :meth:`record_file`.
    """

    out_dir: Path
    settings: dict
    path: Path
    frames: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    extras: dict[str, dict] = field(default_factory=dict)
    _folders: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    _created: list[Path] = field(default_factory=list)

    def stage_folder(self, key: str, folder: Path, spec: dict | None = None) -> Path:
        """A staging folder for an extra output folder (scores): its files move into
        ``folder`` on commit and are recorded under ``key`` with their digests."""
        folder = Path(folder)
        self._created.extend(_make_dirs(folder))
        _clear_leftovers(folder)
        stage = folder / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
        stage.mkdir()
        self._folders[key] = (folder, stage)
        self.extras[key] = {**(spec or {}), "path": str(folder.resolve())}
        return stage

    def record_file(self, key: str, path: Path, spec: dict | None = None) -> None:
        """Record an extra output file written in place (an overlay), with its digest."""
        self.extras[key] = {
            **(spec or {}),
            "path": str(Path(path).resolve()),
            "sha256": file_digest(Path(path)),
        }

    def commit(self) -> None:
        """Move the staged files into place and write the finished manifest.

        The manifest is first rewritten (unfinished) listing both the old run's files and
        the new ones, so a run killed while committing is redone, never mixed.
        """
        out, manifest_path = self.out_dir, self.out_dir / RUN_FILE
        old = listed_files(_read_manifest(manifest_path), out)
        new = [f for f in _files_under(self.path) if not _ours(f)]
        fingerprint = settings_fingerprint(self.settings)
        partial = {"fingerprint": fingerprint, "settings": self.settings, "complete": False}
        _write_manifest(manifest_path, {**partial, "outputs": sorted(old | set(new))})
        for rel in new:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path / rel, out / rel)
        for key, (folder, stage) in self._folders.items():
            files = {}
            for rel in _files_under(stage):
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(stage / rel, folder / rel)
                files[rel] = file_digest(folder / rel)
            shutil.rmtree(stage, ignore_errors=True)
            self.extras[key]["files"] = files
        written = set(new) | listed_files({"extras": self.extras}, out)
        for rel in sorted(old - written - {RUN_FILE}):
            path = out / rel
            if _under(path.parent.resolve(), out.resolve()) and path.is_file():
                path.unlink()
        shutil.rmtree(self.path, ignore_errors=True)
        record = {
            **partial,
            "complete": True,
            "frames": self.frames,
            "outputs": sorted(new),
            "files": {rel: file_digest(out / rel) for rel in new},
            "extras": self.extras,
        }
        if self.skipped:
            record["skipped"] = self.skipped
        _write_manifest(manifest_path, record)

    def abort(self) -> None:
        """Remove the staged files and the folders this run created; the output folders
        are left as they were."""
        shutil.rmtree(self.path, ignore_errors=True)
        for _folder, stage in self._folders.values():
            shutil.rmtree(stage, ignore_errors=True)
        for folder in reversed(self._created):
            with suppress(OSError):
                folder.rmdir()


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    missing.reverse()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, f"cannot create the folder ({exc.strerror})") from exc
    if not os.access(folder, os.W_OK):
        raise OutputError(folder, "folder is not writable")
    return missing


@contextmanager
def staged_run(out_dir: Path, settings: dict) -> Iterator[StagedRun]:
    """Write a run into ``out_dir`` through a staging folder (call :func:`check_output`
    first). Committed when the block ends normally; on any exception the staged files and
    the folders created for the run are removed, so ``out_dir`` is as it was."""
    out_dir = Path(out_dir)
    created = _make_dirs(out_dir)
    _clear_leftovers(out_dir)
    stage = out_dir / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
    stage.mkdir()
    run = StagedRun(out_dir, settings, stage, _created=created)
    try:
        yield run
        run.commit()
    except BaseException:
        run.abort()
        raise


def clear_overlay_leftovers(path: Path) -> None:
    """Remove the temporary files a killed run left beside the overlay video ``path``."""
    _clear_leftovers(Path(path).parent, f"????????-{Path(path).name}")


# -- the dataset runner's fresh folders -----------------------------------------------------


def prepare_output(
    out_dir: Path, *, inputs: list[Path], settings: dict, names: tuple[str, ...], overwrite: bool
) -> bool:
    """Check ``out_dir`` (see :func:`check_output`), clear a run it may replace and open
    ``run.json`` (unfinished). Returns False when the same run is already done.

    For folders written in place from start to end (the dataset runner's fresh folders,
    which are renamed into place when finished); :func:`staged_run` writes in place of a
    previous run without touching it until the end.

    Raises:
        OutputError: see :func:`check_apart` and :func:`check_output`.
    """
    out_dir = Path(out_dir)
    check_apart([out_dir], inputs)
    state = check_output(out_dir, settings=settings, names=names, overwrite=overwrite)
    if state.kind == "done":
        return False
    remove_run(out_dir)
    _make_dirs(out_dir)
    fingerprint = settings_fingerprint(settings)
    _write_manifest(
        out_dir / RUN_FILE, {"fingerprint": fingerprint, "settings": settings, "complete": False}
    )
    return True


def finish_output(
    out_dir: Path, settings: dict, frames: int, *, skipped: dict[str, str] | None = None
) -> None:
    """Mark the run in ``out_dir`` complete, recording the SHA-256 of every file it wrote
    (every file of the folder but the manifest and vosam's leftovers)."""
    files = [f for f in _files_under(out_dir) if f != RUN_FILE and not _ours(f)]
    record = {
        "fingerprint": settings_fingerprint(settings),
        "settings": settings,
        "complete": True,
        "frames": frames,
        "outputs": files,
        "files": {f: file_digest(out_dir / f) for f in files},
    }
    if skipped:
        record["skipped"] = skipped
    _write_manifest(out_dir / RUN_FILE, record)


def is_complete(out_dir: Path, settings: dict, names: tuple[str, ...]) -> bool:
    """True when ``out_dir`` holds a finished run of ``settings`` with every frame written
    and every recorded file unchanged (see :func:`incomplete_reason`)."""
    return incomplete_reason(out_dir, settings, names) is None


def incomplete_reason(out_dir: Path, settings: dict, names: tuple[str, ...]) -> str | None:
    """Why ``out_dir`` is not a finished run of ``settings``, or None when it is.

    Verified, not just present: a frame's PNG must exist, and each file whose digest the
    manifest records must still have that digest (a truncated or overwritten mask fails).
    """
    state = output_state(Path(out_dir), settings, names)
    if state.kind == "done":
        return None
    if state.kind == "empty":
        return "no readable run.json"
    if state.kind == "other":
        return f"run.json records a run {state.reason}"
    if state.kind == "foreign":
        return f"holds files that are not from a vosam run ({state.reason})"
    return state.reason


def same_run(out_dir: Path, settings: dict) -> bool:
    """True when ``out_dir``'s run.json records a run of ``settings`` (finished or not)."""
    previous = _read_manifest(Path(out_dir) / RUN_FILE)
    return previous is not None and previous.get("fingerprint") == settings_fingerprint(settings)


# -- writing a session's results ----------------------------------------------------------


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
