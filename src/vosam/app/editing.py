"""The requests that change the user's work on a video (see :mod:`vosam.app.edits` for what
annotations and corrections are): brush and erase strokes, mask uploads, making a frame an
annotation, dropping one, objects, and undo and redo. Clicks and boxes are in
:mod:`vosam.app.clicks`; both edit a frame through :meth:`AppSession.edit
<vosam.app.state.AppSession.edit>`.

Each request is one change in the session's history, labelled for the page with the frame
numbers it shows (from 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vosam.app import fields
from vosam.app.brush import stroke_mask
from vosam.app.edits import ANNOTATION, Work
from vosam.app.state import MAX_NAME, MAX_RADIUS, AppSession
from vosam.app.uploads import remove
from vosam.errors import InputError, MaskError
from vosam.io import read_mask


def paint(
    app: AppSession,
    index: int,
    object_id: int | None,
    points: list[tuple[float, float]],
    radius: float,
    *,
    erase: bool,
) -> dict[str, Any]:
    """Brush (or erase) ``object_id`` along ``points`` ``(x, y)`` on frame ``index`` with
    a brush of ``radius`` pixels (``0 < radius <= MAX_RADIUS``); brushing without an object
    makes one. Erasing removes only that object's pixels."""
    if not points:
        raise InputError(None, "a brush stroke needs at least one point")
    if not 0 < radius <= MAX_RADIUS:
        raise InputError(None, f"'radius' must be above 0 and at most {MAX_RADIUS:g}")
    if erase and object_id is None:
        raise InputError(None, "choose the object to erase")
    with app.lock:
        size = app.video().size
    fields.on_frame("points", points, size)
    covered = stroke_mask(size, np.asarray(points, np.float64), radius)

    def stroke(mask: np.ndarray, oid: int) -> np.ndarray:
        if erase:
            mask[covered & (mask == oid)] = 0
        else:
            mask[covered] = oid
        return mask

    what = "erase" if erase else "brush"
    object_id, mask = app.edit(index, object_id, f"{what} on frame {index + 1}", stroke)
    return {"object": object_id, "area": int((mask == object_id).sum())}


def upload_mask(app: AppSession, index: int, saved: Path) -> None:
    """Take an uploaded mask file as the annotation of frame ``index``; ids not yet objects
    become objects. A mask of another size is refused."""
    try:
        with app.lock:
            size = app.video().size
            app.check_frame(index)
        try:
            mask = read_mask(saved, expected_size=size)
        except MaskError as e:
            raise type(e)(f"mask for frame {index}", e.problem) from None
        with app.lock:
            app.require_idle()
            before = dict(app.video().objects.names)
            label = f"mask upload on frame {index + 1}"
            app.apply(label, {index: Work.of(ANNOTATION, mask)}, before)
    finally:
        remove(saved)


def confirm(app: AppSession, index: int) -> None:
    """Make what frame ``index`` shows (its correction or propagated mask) its annotation:
    from the next propagation on, it is in permanent memory."""
    with app.lock:
        session = app.video()
        app.check_frame(index)
        app.require_editable()
        if index in app.annotated():
            raise InputError(None, f"frame {index + 1} is an annotation already")
        if index not in app.corrections and index not in app.results:
            raise InputError(None, f"frame {index + 1} has no mask yet; mark an object on it")
        work = Work.of(ANNOTATION, app.mask_of(index))
        before = dict(session.objects.names)
        app.apply(f"make frame {index + 1} an annotation", {index: work}, before)


def drop(app: AppSession, index: int) -> None:
    """Drop frame ``index``'s annotation or correction: its propagated mask, if any, shows
    again."""
    with app.lock:
        session = app.video()
        app.check_frame(index)
        app.require_editable()
        work = app.work_of(index)
        if work is None:
            raise InputError(None, f"frame {index + 1} has no annotation or correction to drop")
        before = dict(session.objects.names)
        app.apply(f"drop the {work.kind} of frame {index + 1}", {index: None}, before)


def undo(app: AppSession) -> dict[str, Any]:
    """Undo the newest change. Returns ``{"undone": label, "frames": [...], "prompt": ...}``:
    the frames it changed and, for a click or box, the prompt the page should now show on
    that frame and object (the clicks before the one undone; none when it was the first)."""
    with app.lock:
        app.video()
        app.require_editable()
        change = app.history.undo()
        if change is None:
            raise InputError(None, "nothing to undo")
        app.restore(change, redo=False)
        prompt = None
        if change.prompt is not None:
            key = (change.prompt["frame"], change.prompt["object"])
            newest = app.history.newest
            earlier = newest.prompt if newest is not None else None
            if earlier is not None and (earlier["frame"], earlier["object"]) == key:
                prompt = earlier
            else:
                prompt = {"frame": key[0], "object": key[1], "points": [], "labels": []}
                prompt["box"] = None
        return {"undone": change.label, "frames": sorted(change.frames), "prompt": prompt}


def redo(app: AppSession) -> dict[str, Any]:
    """Redo the change undone last. Returns ``{"redone": label, "frames": [...], "prompt":
    ...}`` (the change's own prompt, for a click or box)."""
    with app.lock:
        app.video()
        app.require_editable()
        change = app.history.redo()
        if change is None:
            raise InputError(None, "nothing to redo")
        app.restore(change, redo=True)
        frames = sorted(change.frames)
        return {"redone": change.label, "frames": frames, "prompt": change.prompt}


def add_object(app: AppSession, name: str | None = None) -> int:
    """A new object with the smallest free id (1..254); returns its id."""
    with app.lock:
        objects = app.video().objects
        app.require_editable()
        before = dict(objects.names)
        object_id = app.new_object(name)
        app.apply(f"add object {object_id}", {}, before)
        return object_id


def rename_object(app: AppSession, object_id: int, name: str) -> None:
    """Rename ``object_id`` (allowed while a propagation runs; not in the history)."""
    with app.lock:
        app.check_object(object_id)
        app.video().objects.add(object_id, name.strip()[:MAX_NAME] or f"object {object_id}")


def remove_object(app: AppSession, object_id: int) -> None:
    """Delete ``object_id`` and erase it from every frame. Undo brings back its
    annotations and corrections; its propagated masks come back with the next
    propagation."""
    with app.lock:
        app.require_idle()
        app.check_object(object_id)
        session = app.video()
        before = dict(session.objects.names)
        frames = {}
        for index in sorted({*app.annotated(), *app.corrections}):
            work = app.work_of(index)
            mask = work.mask()  # type: ignore[union-attr]
            if (mask == object_id).any():
                mask[mask == object_id] = 0
                frames[index] = Work.of(work.kind, mask)  # type: ignore[union-attr]
        label = f"delete object {object_id}"
        app.apply(label, frames, before, then=lambda: app.drop_object(object_id))
