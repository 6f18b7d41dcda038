"""The JSON API of ``vosam app``: one handler per route, each reading its fields strictly
(:mod:`vosam.app.fields`), asking the browser's session (:mod:`vosam.app.state`,
:mod:`vosam.app.opening`, :mod:`vosam.app.clicks`, :mod:`vosam.app.tasks`) and answering
with its state.

JSON bodies and answers; errors are ``{"error": "..."}`` with a 4xx status:

==========================================  ===============================================
``POST /api/session``                       this browser's session, made if it has none
``GET  /api/state``                         the session: video, objects, frames, job
``POST /api/open {path}``                   open a frame folder / video inside the workspace
``POST /api/upload?name=F`` (raw bytes)     open an uploaded video or zip of frames
``GET  /api/frame/<i>``                     frame ``i`` as JPEG
``GET  /api/mask/<i>``                      frame ``i``'s mask, coloured RGBA PNG
``GET  /api/ids/<i>``                       frame ``i``'s mask, DAVIS-palette PNG of ids
``GET  /api/videos``                        the workspace's videos, to open
``POST /api/objects {name}``                new object → ``{id}``
``POST /api/objects/<id> {name}``           rename; ``{"delete": true}`` removes it
``POST /api/prompt {frame, object, points, labels, box}``  clicks / box → mask
``POST /api/embed {frame}``                 embed a frame ahead of the first click
``POST /api/paint {frame, object, points, radius, erase}`` brush or erase stroke
``POST /api/mask?frame=i`` (raw PNG)        upload frame ``i``'s annotation
``POST /api/confirm {frame}``               make frame ``i``'s mask its annotation
``POST /api/clear {frame}``                 drop frame ``i``'s annotation or correction
``POST /api/undo``, ``POST /api/redo``      undo / redo the last change of the work
``POST /api/propagate {frame, direction}``  start propagation (forward / backward / both)
``POST /api/suggest {k}``                   start frame suggestion
``POST /api/export {kind}``                 start an export (masks / overlay / ytvis)
``POST /api/cancel``                        cancel the running job
``GET  /api/download/<file>``               an exported file
==========================================  ===============================================

A prompt or brush stroke without ``object`` makes a new object (its id is in the answer).
Clicks, boxes and strokes correct a propagated frame and annotate any other (see
:mod:`vosam.app.edits`).
"""

from __future__ import annotations

import io
import unicodedata
from http import HTTPStatus
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from vosam.app import clicks, editing, fields, opening, tasks
from vosam.app.guards import HTTPError
from vosam.app.routing import RAW, Route
from vosam.app.state import MAX_CLICKS, MAX_RADIUS, MAX_STROKE_POINTS, Busy
from vosam.app.videos import list_videos
from vosam.app.workspace import inside
from vosam.errors import InputError
from vosam.io import DAVIS_COLORS, VOID_ID, palette_image
from vosam.objects import MAX_OBJECT_ID

if TYPE_CHECKING:
    from vosam.app.server import Handler

MASK_ALPHA = 150
DOWNLOAD_TYPES = {".zip": "application/zip", ".mp4": "video/mp4", ".json": "application/json"}


def coloured_mask(mask: np.ndarray) -> Image.Image:
    """``uint8 (H, W)`` ids → RGBA image: each object in its palette colour, translucent;
    background and void transparent."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[..., :3] = DAVIS_COLORS[mask]
    rgba[..., 3] = np.where((mask == 0) | (mask == VOID_ID), 0, MASK_ALPHA)
    return Image.fromarray(rgba, "RGBA")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _shown(name: str) -> str:
    """An uploaded file's name as put in messages: one line, no control characters."""
    clean = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return clean[:120] or "upload"


def post_session(req: Handler) -> None:
    req.json()
    token, req.session, created = req.server.sessions.open(req.token())
    if created:
        req.new_cookie = token
    req.send_state(created=created)


def get_state(req: Handler) -> None:
    req.send_state()


def post_open(req: Handler) -> None:
    data = req.json()
    config = req.server.config
    path = inside(config.workspace, fields.text(data, "path"), private=config.data_dir)
    opening.open_video(req.session, path)
    req.send_state()


def post_upload(req: Handler) -> None:
    name = _shown(req.query.get("name") or "upload")
    saved = req.save_body(name)
    try:
        opening.open_upload(req.session, saved, name)
    except Busy:
        raise
    except InputError as e:
        raise InputError(name, e.problem) from None
    req.send_state()


def get_frame(req: Handler, index: str) -> None:
    jpeg = req.session.jpeg(fields.index_in_path(index, "frame"), _jpeg)
    req.send(HTTPStatus.OK, "image/jpeg", jpeg)


def get_mask(req: Handler, index: str) -> None:
    mask = req.session.mask_of(fields.index_in_path(index, "frame"))
    req.send(HTTPStatus.OK, "image/png", _png(coloured_mask(mask)))


def get_ids(req: Handler, index: str) -> None:
    mask = req.session.mask_of(fields.index_in_path(index, "frame"))
    req.send(HTTPStatus.OK, "image/png", _png(palette_image(mask)))


def get_videos(req: Handler) -> None:
    videos, cut = list_videos(req.server.config.workspace)
    req.send_json({"videos": [v.to_json() for v in videos], "cut": cut})


def post_objects(req: Handler) -> None:
    object_id = editing.add_object(req.session, fields.text(req.json(), "name"))
    req.send_state(id=object_id)


def post_object(req: Handler, object_id: str) -> None:
    oid = fields.index_in_path(object_id, "object")
    data = req.json()
    if fields.flag(data, "delete"):
        editing.remove_object(req.session, oid)
    else:
        editing.rename_object(req.session, oid, fields.text(data, "name"))
    req.send_state()


def _object(data: dict) -> int | None:
    """The request's object id; None (a new object) when absent or null."""
    if data.get("object") is None:
        return None
    return fields.integer(data, "object", low=1, high=MAX_OBJECT_ID)


def post_prompt(req: Handler) -> None:
    data = req.json()
    points = fields.points(data, "points", most=MAX_CLICKS)
    result = clicks.prompt(
        req.session,
        fields.integer(data, "frame"),
        _object(data),
        points=points,
        labels=fields.labels(data, "labels", len(points)),
        box=fields.box(data, "box"),
    )
    req.send_state(**result)


def post_embed(req: Handler) -> None:
    started = clicks.prefetch(req.session, fields.integer(req.json(), "frame"))
    req.send_json({"started": started})


def post_paint(req: Handler) -> None:
    data = req.json()
    result = editing.paint(
        req.session,
        fields.integer(data, "frame"),
        _object(data),
        fields.points(data, "points", most=MAX_STROKE_POINTS),
        fields.number(data, "radius", low=0, high=MAX_RADIUS, default=8),
        erase=fields.flag(data, "erase"),
    )
    req.send_state(**result)


def post_mask(req: Handler) -> None:
    text = req.query.get("frame", "")
    if not (text.isascii() and text.isdigit()):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "give ?frame=<index>")
    index = fields.index_in_path(text, "frame")
    saved = req.save_body(_shown(req.query.get("name") or "mask.png"))
    editing.upload_mask(req.session, index, saved)
    req.send_state()


def post_confirm(req: Handler) -> None:
    editing.confirm(req.session, fields.integer(req.json(), "frame"))
    req.send_state()


def post_clear(req: Handler) -> None:
    editing.drop(req.session, fields.integer(req.json(), "frame"))
    req.send_state()


def post_undo(req: Handler) -> None:
    req.json()
    req.send_state(**editing.undo(req.session))


def post_redo(req: Handler) -> None:
    req.json()
    req.send_state(**editing.redo(req.session))


def post_propagate(req: Handler) -> None:
    data = req.json()
    direction = fields.text(data, "direction", default="forward", longest=20)
    tasks.propagate(req.session, fields.integer(data, "frame"), direction)
    req.send_state()


def post_suggest(req: Handler) -> None:
    tasks.suggest(req.session, fields.integer(req.json(), "k", low=1, high=100, default=5))
    req.send_state()


def post_export(req: Handler) -> None:
    tasks.export(req.session, fields.text(req.json(), "kind", longest=20))
    req.send_state()


def post_cancel(req: Handler) -> None:
    req.json()
    req.session.cancel()
    req.send_state()


def get_download(req: Handler, name: str) -> None:
    path = tasks.export_file(req.session, name)
    req.send(
        HTTPStatus.OK,
        DOWNLOAD_TYPES.get(path.suffix, "application/octet-stream"),
        path.read_bytes(),
        Content_Disposition=f'attachment; filename="{path.name}"',
    )


ROUTES: tuple[Route, ...] = (
    Route("POST", r"/api/session", post_session, needs_session=False),
    Route("GET", r"/api/state", get_state),
    Route("POST", r"/api/open", post_open),
    Route("POST", r"/api/upload", post_upload, body=RAW),
    Route("GET", r"/api/frame/(\d+)", get_frame),
    Route("GET", r"/api/mask/(\d+)", get_mask),
    Route("GET", r"/api/ids/(\d+)", get_ids),
    Route("GET", r"/api/videos", get_videos),
    Route("POST", r"/api/objects", post_objects),
    Route("POST", r"/api/objects/(\d+)", post_object),
    Route("POST", r"/api/prompt", post_prompt),
    Route("POST", r"/api/embed", post_embed),
    Route("POST", r"/api/paint", post_paint),
    Route("POST", r"/api/mask", post_mask, body=RAW),
    Route("POST", r"/api/confirm", post_confirm),
    Route("POST", r"/api/clear", post_clear),
    Route("POST", r"/api/undo", post_undo),
    Route("POST", r"/api/redo", post_redo),
    Route("POST", r"/api/propagate", post_propagate),
    Route("POST", r"/api/suggest", post_suggest),
    Route("POST", r"/api/export", post_export),
    Route("POST", r"/api/cancel", post_cancel),
    Route("GET", r"/api/download/([A-Za-z0-9._-]+)", get_download),
)
