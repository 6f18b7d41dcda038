"""What an output folder holds: the manifest (``run.json``), the identity of a run's inputs,
and the rules deciding whether a run may write there (see :mod:`vosam.runs`)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vosam.errors import OutputError
from vosam.io import atomic_write_text
from vosam.io.frames import FRAME_SUFFIXES
from vosam.jsonfile import parse_json
from vosam.runs.leftovers import clear_leftovers, is_leftover, is_lock_file

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
SMALL_SOURCE_BYTES = 64 * 2**20
"""Sources up to this size are identified by their content's SHA-256, larger ones by the
size and modification time of their files."""

# settings whose change means the inputs changed (the results are stale)
_INPUT_KEYS = ("source_id", "annotations", "frames_id", "inputs", "boxes_sha256", "prompts")


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
        h.update(os.fsencode(p.name) + f"\0{entry}\n".encode())
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
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "fingerprint" in data else None


def _write_manifest(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


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


def recorded_digests(manifest: dict | None, out_dir: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file of ``out_dir`` whose digest the run of
    ``manifest`` recorded (its files, and its extra outputs that lie inside the folder)."""
    if manifest is None:
        return {}
    out = {str(f): str(d) for f, d in (manifest.get("files") or {}).items()}
    base = out_dir.resolve()
    for extra in (manifest.get("extras") or {}).values():
        target = Path(extra.get("path", ""))
        pairs = list((extra.get("files") or {}).items())
        if "sha256" in extra:
            pairs.append((None, extra["sha256"]))
        for name, digest in pairs:
            path = (target / name) if name is not None else target
            with suppress(ValueError):
                out[path.resolve().relative_to(base).as_posix()] = str(digest)
    return out


def changed_files(out_dir: Path, manifest: dict | None = None) -> list[str]:
    """Files of ``out_dir`` that the run of its manifest wrote and that were changed since
    (their SHA-256 is not the one recorded): someone edited them, so they are no longer
    vosam's to replace or remove. Missing files are not listed."""
    out_dir = Path(out_dir)
    if manifest is None:
        manifest = _read_manifest(out_dir / RUN_FILE)
    changed = []
    for rel, digest in sorted(recorded_digests(manifest, out_dir).items()):
        path = out_dir / rel
        if path.is_file() and file_digest(path) != digest:
            changed.append(rel)
    return changed


def foreign_files(out_dir: Path) -> list[str]:
    """Files in ``out_dir`` that no vosam run wrote (not in its manifest, not vosam's
    leftovers: see :mod:`vosam.runs.leftovers`), as relative paths."""
    if not out_dir.is_dir():
        return []
    manifest = _read_manifest(out_dir / RUN_FILE)
    listed = listed_files(manifest, out_dir)
    if manifest is not None:
        listed.add(RUN_FILE)
    return [f for f in _files_under(out_dir) if f not in listed and not is_leftover(f)]


CHANGED = (
    "was changed since vosam wrote it (its SHA-256 is not the one {manifest} records); "
    "move it away to keep it, or delete it, and run again"
)
"""The refusal of a file vosam wrote and someone changed since (format with ``manifest``)."""


@dataclass(frozen=True)
class OutputState:
    """What an output folder holds with respect to a run.

    Attributes:
        kind: ``empty`` (missing, empty, or only vosam's leftovers), ``done`` (this run,
            finished and verified), ``extend`` (this run, finished, lacking a requested
            output), ``redo`` (this run, unfinished or lacking files), ``other`` (a run of
            other settings or inputs), ``foreign`` (files no vosam run wrote) or
            ``changed`` (a file the run wrote was changed since: :attr:`reason` is its
            relative path).
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
    changed = changed_files(out_dir, previous)
    if changed:
        return OutputState("changed", changed[0])
    if previous.get("fingerprint") != settings_fingerprint(settings):
        return _other(previous.get("settings") or {}, settings)
    if previous.get("complete") is not True:
        return OutputState("redo", "the run did not finish")
    skipped = set(previous.get("skipped") or ())
    for name in names:
        if name not in skipped and not (out_dir / f"{name}.png").is_file():
            return OutputState("redo", f"{name}.png is missing")
    for file in previous.get("files") or {}:
        if not (out_dir / file).is_file():
            return OutputState("redo", f"{file} is missing")
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
    "prompts": "the prompts",
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
    if not target.is_file():
        return f"{target} is missing"
    if "sha256" in recorded and file_digest(target) != recorded["sha256"]:
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
    if state.kind == "changed":
        raise OutputError(out_dir / state.reason, CHANGED.format(manifest=out_dir / RUN_FILE))
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
    """Remove what the vosam run in ``folder`` wrote (the files its manifest lists, unless
    they were changed since, its manifest and vosam's leftovers), then empty sub-folders.
    Files outside ``folder`` are never touched. Returns the files left (not vosam's)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    manifest = _read_manifest(folder / RUN_FILE)
    listed = (listed_files(manifest, folder) - set(changed_files(folder, manifest))) | {RUN_FILE}
    base = folder.resolve()
    for rel in _files_under(folder):
        if is_lock_file(rel.rsplit("/", 1)[-1]):
            continue  # a lock is removed by its holder
        if rel in listed or is_leftover(rel):
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
    clear_leftovers(folder)
    return _files_under(folder)
