"""A browser session's background work: propagation, frame suggestion and exports, each a
:class:`~vosam.app.jobs.Job` on the shared workers, with progress and cancellation.

Propagation is the video's :class:`vosam.Session` propagating (backward: with
``reverse=True``); its masks go into the session's propagated masks as they come.
Suggestion and exports work from a frozen view of what every frame shows, so the page may
go on changing the annotations meanwhile. A job reads frames from the session's own source,
never from the page's, and only one job of a session is active at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosam.annotate import suggest_frames
from vosam.app.exports import write_mask_zip, write_overlay_video, write_youtube_vis, youtube_vis
from vosam.app.jobs import Job
from vosam.app.packed import MaskView
from vosam.app.quota import size_text
from vosam.app.state import AppSession
from vosam.app.uploads import remove
from vosam.app.workspace import safe_name
from vosam.errors import InputError

EXPORT_KINDS = ("masks", "overlay", "ytvis")
EXPORT_FILES = {"masks": "-masks.zip", "overlay": "-overlay.mp4", "ytvis": "-ytvis.json"}
QUOTA_CHECK_EVERY = 16  # frames written by an export between two looks at the disk quota


def _require_annotation(app: AppSession) -> None:
    if not any((m != 0).any() for m in app.video().annotations.values()):
        raise InputError(None, "nothing to propagate: mark an object on a frame first")


def propagate(app: AppSession, index: int, direction: str) -> Job:
    """Propagate every annotation from frame ``index`` to the end (``forward``) or to the
    start (``backward``), in the background."""
    if direction not in ("forward", "backward"):
        raise InputError(None, f"direction must be forward or backward, not {direction!r}")
    backward = direction == "backward"
    with app.lock:
        session = app.video()
        app.check_frame(index)
        _require_annotation(app)
        generation = app.generation
    start, stop = (0, index + 1) if backward else (index, None)

    def work(job: Job) -> dict[str, Any]:
        for i, result in session.propagate(start=start, stop=stop, reverse=backward):
            app.propagated(generation, i, result.mask)
            job.advance()
        return {"frames": job.done, "direction": direction}

    total = index + 1 if backward else len(session) - index
    return app.start(Job(f"propagate {direction}", total, work, locks_edits=True))


def suggest(app: AppSession, k: int) -> Job:
    """Suggest ``k`` frames to annotate next (XMem++ diversity selection), in the
    background; the result is also kept for the timeline."""
    if not 1 <= k <= 100:
        raise InputError(None, f"k must be in 1..100, got {k}")
    with app.lock:
        session = app.video()
        _require_annotation(app)
        annotations = session.annotations
        masks = MaskView(len(session), annotations, app.results)
        generation = app.generation

    def work(job: Job) -> dict[str, Any]:
        def frames():
            for _, image in session.source.frames():
                yield image
                job.advance()

        propagator = session.propagator
        picked = suggest_frames(propagator, frames(), masks, sorted(annotations), k=k)
        with app.lock:
            if generation == app.generation:
                app.suggested = picked
        return {"frames": picked}

    return app.start(Job("suggest", len(session), work))


def export(app: AppSession, kind: str) -> Job:
    """Write ``masks`` (zip of palette PNGs), ``overlay`` (mp4) or ``ytvis`` (JSON) into
    the session's export folder, in the background."""
    if kind not in EXPORT_KINDS:
        raise InputError(None, f"export kind must be one of {', '.join(EXPORT_KINDS)}")
    with app.lock:
        session = app.video()
        names, size = session.names, session.size
        masks = MaskView(len(session), session.annotations, app.results)
        objects = [(i, session.objects.names[i]) for i in session.objects.ids]
        label = app.video_label
    path = session.source.path
    stem = safe_name(Path(label).stem or path.stem or path.name, "video")
    out_dir = app.folder / "exports"
    target = out_dir / f"{stem}{EXPORT_FILES[kind]}"
    problem = app.quota_problem(1)
    if problem is not None:
        raise InputError(None, f"cannot export: {problem}")

    def advance() -> None:
        job.advance()
        if job.done % QUOTA_CHECK_EVERY == 0:
            _check_quota(app)

    def work(job: Job) -> dict[str, Any]:
        out_dir.mkdir(parents=True, exist_ok=True)
        # one file per kind: the export replaces the last one of its kind
        for old in out_dir.glob(f"*{EXPORT_FILES[kind]}"):
            remove(old)
        if kind == "masks":
            write_mask_zip(target, names, masks.__getitem__, advance)
        elif kind == "overlay":
            frames = session.source.frames()
            write_overlay_video(target, frames, size, masks.__getitem__, app.config.fps, advance)
        else:
            data = youtube_vis(
                names, size, objects, masks.__getitem__, job.advance, video_name=stem
            )
            write_youtube_vis(target, data, room=app.room())
        _check_quota(app, target)
        return {"file": target.name, "url": f"/api/download/{target.name}"}

    job = Job(f"export {kind}", len(names), work)
    return app.start(job)


def _check_quota(app: AppSession, written: Path | None = None) -> None:
    """Stop an export that took the session past its disk quota (removing ``written``)."""
    if app.disk_bytes() <= app.config.max_session_bytes:
        return
    if written is not None:
        remove(written)
    quota = app.config.max_session_bytes
    raise InputError(None, f"the export passes this session's disk quota of {size_text(quota)}")


def export_file(app: AppSession, name: str) -> Path:
    """The exported file called ``name``, only from this session's export folder."""
    path = app.folder / "exports" / safe_name(name)
    if path.name != name or not path.is_file():
        raise InputError(name, "no such export")
    return path
