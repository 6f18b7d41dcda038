"""Opening a video in a browser session: a frame folder or video file of the workspace, or
an upload (a video, or a zip of frames unpacked first), checked against the app's limits.
On failure the session keeps the video it had, and a failed upload is deleted.

The video is opened twice: as the source of its :class:`vosam.Session`, which the session's
jobs read on their worker thread, and for the page's frame requests. Frames over the frame
readers' own pixel bound are refused by them, from their headers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from vosam.app.state import AppSession
from vosam.app.uploads import remove, remove_tree, unpack_frames
from vosam.app.workspace import check_frame_files, relative
from vosam.errors import InputError
from vosam.io import open_source
from vosam.session import Session


def open_video(app: AppSession, path: Path) -> None:
    """Open a frame folder or video file of the workspace. Frame files of a folder must lie
    in the workspace, links resolved, and outside the app's data folder."""
    _open(app, path, relative(app.config.workspace, path), upload=False)


def open_upload(app: AppSession, saved: Path, name: str) -> None:
    """Open an uploaded file ``saved``: a video, or a zip of frame images, shown as
    ``name``; its frames are held to the upload pixel budget.

    Raises:
        InputError: naming the problem (not the upload's name: the caller adds it).
    """
    target = saved
    try:
        if zipfile.is_zipfile(saved):
            target = unpack_frames(
                saved,
                limit=app.config.max_upload_bytes,
                quota=app.quota,
                max_frames=app.config.max_frames,
                max_pixels=app.config.max_upload_pixels,
            )
            remove(saved)
        _open(app, target, name, upload=True)
    except InputError as e:
        remove(saved)
        if target != saved:
            remove_tree(target)
        # name the upload (and a frame unpacked from it) as the user knows it, never by its
        # place in the app's data folder
        problem = e.problem.replace(f"{target}/", "").replace(str(target), name)
        problem = problem.replace(str(saved), name)
        if e.path is not None and e.path.parent == target:  # one unpacked frame
            problem = f"{e.path.name}: {problem}"
        raise type(e)(None, problem) from None
    except BaseException:
        remove(saved)
        if target != saved:
            remove_tree(target)
        raise


def _open(app: AppSession, path: Path, label: str, *, upload: bool) -> None:
    with app.lock:
        app.require_idle()
    propagator = app.models.propagator
    frames = open_source(path)
    try:
        h, w = frames.size
        most = app.config.max_frames
        if len(frames) > most:
            raise InputError(label, f"has {len(frames)} frames; this app takes at most {most}")
        pixels = app.config.max_upload_pixels
        if upload and h * w > pixels:
            raise InputError(label, f"frames are {w}×{h}, over {pixels} pixels for uploads")
        if not upload:
            check_frame_files(app.config.workspace, frames, private=app.config.data_dir)
        session = Session(open_source(path), propagator=propagator)
    except BaseException:
        frames.close()
        raise
    app.replace_video(session, frames, label, upload=path if upload else None)
