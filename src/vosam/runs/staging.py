"""Writing a run: through a staging folder committed at the end (:func:`staged_run`), or
into a fresh folder from start to end (:func:`prepare_output`, :func:`finish_output`)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from vosam.errors import OutputError
from vosam.runs.extras import Extra
from vosam.runs.leftovers import STAGING_PREFIX, clear_leftovers, is_leftover
from vosam.runs.lock import default_on_wait, locked
from vosam.runs.manifest import (
    RUN_FILE,
    _files_under,
    _read_manifest,
    _under,
    _write_manifest,
    changed_files,
    check_apart,
    check_output,
    file_digest,
    listed_files,
    output_state,
    remove_run,
    settings_fingerprint,
)


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
        stopped_early: why a stream's run ended before its stream did (``--max-frames``,
            an interrupt); recorded as ``stopped_early``, the frames written are complete.
        extras: extra outputs recorded, ``{key: spec}``; see :meth:`stage_folder`,
            :meth:`stage_file` and :meth:`live_file`.
    """

    out_dir: Path
    settings: dict
    path: Path
    frames: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    stopped_early: str | None = None
    extras: dict[str, dict] = field(default_factory=dict)
    _folders: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    _files: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    _live: dict[str, tuple[Path, bool]] = field(default_factory=dict)
    _created: list[Path] = field(default_factory=list)

    def stage_folder(self, key: str, folder: Path, spec: dict | None = None) -> Path:
        """A staging folder for an extra output folder (scores): its files move into
        ``folder`` on commit and are recorded under ``key`` with their digests."""
        folder = Path(folder)
        self._created.extend(_make_dirs(folder))
        stage = folder / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
        stage.mkdir()
        self._folders[key] = (folder, stage)
        self.extras[key] = {**(spec or {}), "path": str(folder.resolve())}
        return stage

    def stage_file(self, key: str, path: Path, spec: dict | None = None) -> Path:
        """Where to write the extra output file ``path`` (an overlay): a hidden name beside
        it (inside the staging folder when ``path`` lies in the output folder), moved into
        place on commit and recorded under ``key`` with its digest."""
        path = Path(path)
        try:
            rel = path.resolve().relative_to(self.out_dir.resolve())
        except ValueError:
            self._created.extend(_make_dirs(path.parent))
            staged = path.with_name(f"{STAGING_PREFIX}{secrets.token_hex(4)}-{path.name}")
        else:
            staged = self.path / rel
            staged.parent.mkdir(parents=True, exist_ok=True)
        self._files[key] = (path, staged)
        self.extras[key] = {**(spec or {}), "path": str(path.resolve())}
        return staged

    def live_file(self, key: str, path: Path, spec: dict | None = None) -> Path:
        """The extra output file ``path`` written in place while the run goes on (a
        preview): recorded under ``key`` by its path only; removed when the run fails if
        it did not exist before."""
        path = Path(path)
        self._created.extend(_make_dirs(path.parent))
        self._live[key] = (path, path.exists())
        self.extras[key] = {**(spec or {}), "path": str(path.resolve())}
        return path

    def record_file(self, key: str, path: Path, spec: dict | None = None) -> None:
        """Record an extra output file written in place, with its digest."""
        self.extras[key] = {
            **(spec or {}),
            "path": str(Path(path).resolve()),
            "sha256": file_digest(Path(path)),
        }

    def commit(self) -> None:
        """Move the staged files into place and write the finished manifest.

        The manifest is first rewritten (unfinished) listing both the old run's files and
        the new ones, so a run killed while committing is redone, never mixed. Files of the
        old run that were changed since it wrote them are never removed.
        """
        out, manifest_path = self.out_dir, self.out_dir / RUN_FILE
        previous = _read_manifest(manifest_path)
        old = listed_files(previous, out) - set(changed_files(out, previous))
        new = [f for f in _files_under(self.path) if not is_leftover(f)]
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
        for key, (path, staged) in self._files.items():
            if staged.exists():  # else it was moved with the staging folder's files
                os.replace(staged, path)
            self.extras[key]["sha256"] = file_digest(path)
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
        if self.stopped_early is not None:
            record["stopped_early"] = self.stopped_early
        _write_manifest(manifest_path, record)

    def abort(self) -> None:
        """Remove the staged files, the live files this run created and the folders it
        created; the output folders are left as they were."""
        shutil.rmtree(self.path, ignore_errors=True)
        for _folder, stage in self._folders.values():
            shutil.rmtree(stage, ignore_errors=True)
        for _path, staged in self._files.values():
            with suppress(FileNotFoundError):
                staged.unlink()
        for path, existed in self._live.values():
            if not existed:
                with suppress(FileNotFoundError):
                    path.unlink()
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
    first, holding :func:`locked_outputs`). Committed when the block ends normally; on any
    exception the staged files and the folders created for the run are removed, so
    ``out_dir`` is as it was."""
    out_dir = Path(out_dir)
    created = _make_dirs(out_dir)
    stage = out_dir / f"{STAGING_PREFIX}{secrets.token_hex(4)}"
    stage.mkdir()
    run = StagedRun(out_dir, settings, stage, _created=created)
    try:
        yield run
        run.commit()
    except BaseException:
        run.abort()
        raise


@contextmanager
def locked_outputs(
    out_dir: Path,
    extras: Sequence[Extra] = (),
    *,
    wait: bool = False,
    command: str | None = None,
) -> Iterator[set[Path]]:
    """Hold the locks of the output folder ``out_dir`` and of every extra output for the
    block (see :mod:`vosam.runs.lock`), and remove what killed runs left there. Yields the
    live extra outputs a killed run was writing (vosam's, though no manifest records them;
    give them to :func:`~vosam.runs.check_extras`).

    Raises:
        OutputBusy: another run holds one of the locks and ``wait`` is False.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "exists and is not a folder")
    for extra in extras:
        if extra.folder and extra.path.exists() and not extra.path.is_dir():
            raise OutputError(extra.path, "exists and is not a folder")
        if not extra.folder and extra.path.is_dir():
            raise OutputError(extra.path, "is a folder; name a file")
    targets = [(out_dir, True), *((e.path, e.folder) for e in extras)]
    info = {"command": command} if command else None
    with locked(targets, wait=wait, info=info, on_wait=default_on_wait) as held:
        by_target = {lock.target.absolute(): lock for lock in held}
        killed = set()
        for extra in extras:
            lock = by_target.get(Path(extra.path).absolute())
            if extra.live and lock is not None and lock.previous is not None:
                killed.add(Path(extra.path))
        clear_leftovers(out_dir)
        for extra in extras:
            if extra.folder:
                clear_leftovers(extra.path)
            else:
                clear_leftovers(extra.path.parent, extra.path.name)
        yield killed


@contextmanager
def staged_extra(out_dir: Path, extra: Extra) -> Iterator[Path]:
    """Write the extra output file ``extra.path`` of the run in ``out_dir`` (a submission
    zip beside a dataset's results) after that run: yields a hidden path beside it to
    write to. When the block ends normally the file is moved into place and recorded in
    ``out_dir``'s ``run.json`` (made when missing) with its digest; on an exception the
    hidden file is removed and nothing else changes.

    The manifest records the path before the move and the digest after it, so a run killed
    in between leaves a file vosam knows as its own. Call :func:`check_extras` first, and
    hold :func:`locked_outputs`.
    """
    path = Path(extra.path)
    created = _make_dirs(path.parent)
    staged = path.with_name(f"{STAGING_PREFIX}{secrets.token_hex(4)}-{path.name}")
    try:
        yield staged
        manifest_path = Path(out_dir) / RUN_FILE
        record = {**extra.request()}
        _record_extra(manifest_path, extra.key, record)
        os.replace(staged, path)
        _record_extra(manifest_path, extra.key, {**record, "sha256": file_digest(path)})
    except BaseException:
        with suppress(FileNotFoundError):
            staged.unlink()
        for folder in reversed(created):
            with suppress(OSError):
                folder.rmdir()
        raise


def _record_extra(manifest_path: Path, key: str, spec: dict) -> None:
    """Set ``extras[key]`` of the manifest (a manifest of extras only when there is none)."""
    manifest = _read_manifest(manifest_path)
    if manifest is None:
        settings = {"command": "outputs"}
        manifest = {
            "fingerprint": settings_fingerprint(settings),
            "settings": settings,
            "complete": True,
            "outputs": [],
            "files": {},
        }
    manifest["extras"] = {**(manifest.get("extras") or {}), key: spec}
    _write_manifest(manifest_path, manifest)


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
    files = [f for f in _files_under(out_dir) if f != RUN_FILE and not is_leftover(f)]
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
    if state.kind == "changed":
        return f"{state.reason} was changed since vosam wrote it"
    return state.reason


def same_run(out_dir: Path, settings: dict) -> bool:
    """True when ``out_dir``'s run.json records a run of ``settings`` (finished or not)."""
    previous = _read_manifest(Path(out_dir) / RUN_FILE)
    return previous is not None and previous.get("fingerprint") == settings_fingerprint(settings)
