"""A browser session's background work: propagation, frame suggestion and exports, each a
:class:`~vosam.app.jobs.Job` on the shared workers, with progress and cancellation.

Propagation is the video's :class:`vosam.Session` propagating (``direction="forward"``,
``"backward"`` or ``"both"``); its masks go into the session's propagated masks as they
come, and its progress callback counts the frames played. Suggestion and exports work from
a frozen view of what every frame shows, so the page may go on changing the annotations
meanwhile. A job reads frames from the session's own source, never from the page's, and
only one job of a session is active at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosam.annotate import blend_frames, select_blended
from vosam.app.exports import write_mask_zip, write_overlay_video, write_youtube_vis, youtube_vis
from vosam.app.jobs import Job
from vosam.app.quota import size_text
from vosam.app.state import AppSession
from vosam.app.uploads import remove
from vosam.app.workspace import safe_name
from vosam.errors import InputError

EXPORT_KINDS = ("masks", "overlay", "ytvis")
EXPORT_FILES = {"masks": "-masks.zip", "overlay": "-overlay.mp4", "ytvis": "-ytvis.json"}
QUOTA_CHECK_EVERY = 16  # frames written by an export between two looks at the disk quota


def _require_annotation(app: AppSession) -> None:
    if not any((m != 0).any() for m in app.annotated().values()):
        raise InputError(None, "nothing to propagate: mark an object on a frame first")


DIRECTIONS = ("forward", "backward", "both")


def propagate(app: AppSession, index: int, direction: str) -> Job:
    """Propagate every annotation from frame ``index`` to the end (``forward``), to the
    start (``backward``), or over the whole video in both directions as one run (``both``,
    whatever ``index``), in the background (:meth:`vosam.Session.propagate`). The masks
    are saved when it ends, also when cancelled."""
    if direction not in DIRECTIONS:
        raise InputError(
            None, f"direction must be forward, backward or both, not {direction[:20]!r}"
        )
    with app.lock:
        session = app.video()
        app.check_frame(index)
        _require_annotation(app)
        generation = app.generation
    n = len(session)
    span = {"forward": {"start": index}, "backward": {"stop": index + 1}, "both": {}}[direction]
    total = {"forward": n - index, "backward": index + 1, "both": n}[direction]

    def work(job: Job) -> dict[str, Any]:
        try:
            steps = session.propagate(**span, direction=direction, progress=job.report)
            for i, result in steps:
                app.propagated(generation, i, result.mask)
        finally:
            app.request_save()
        return {"frames": job.done, "direction": direction}

    return app.start(Job(f"propagate {direction}", total, work, locks_edits=True))


def suggest(app: AppSession, k: int) -> Job:
    """Suggest ``k`` frames to annotate next (XMem++ diversity selection) from the masks
    the frames show now, as ``vosam suggest --results`` does from a run's masks: nothing is
    propagated, each frame is read and encoded once (:func:`vosam.annotate.blend_frames`,
    :func:`~vosam.annotate.select_blended`). In the background; the job counts the frames
    encoded, then the comparisons of two frames; the result is also kept for the timeline."""
    if not 1 <= k <= 100:
        raise InputError(None, f"k must be in 1..100, got {k}")
    with app.lock:
        session = app.video()
        _require_annotation(app)
        annotated = sorted(app.annotated())
        masks = app.shown()
        generation = app.generation
    n = len(session)

    def work(job: Job) -> dict[str, Any]:
        pairs = ((image, masks[i]) for i, image in session.source.frames())
        propagator = session.propagator
        blended, covered = blend_frames(
            propagator, pairs, progress=lambda done: job.report(done, None)
        )

        def compared(done: int, total: int) -> None:
            job.report(n + done, n + total)

        picked = select_blended(blended, covered, annotated, k=k, progress=compared)
        with app.lock:
            if generation == app.generation:
                app.suggested = picked
        return {"frames": picked}

    return app.start(Job("suggest", n, work))


def export(app: AppSession, kind: str) -> Job:
    """Write ``masks`` (zip of palette PNGs), ``overlay`` (mp4) or ``ytvis`` (JSON) into
    the session's export folder, in the background."""
    if kind not in EXPORT_KINDS:
        raise InputError(None, f"export kind must be one of {', '.join(EXPORT_KINDS)}")
    with app.lock:
        session = app.video()
        names, size = session.names, session.size
        masks = app.shown()
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
