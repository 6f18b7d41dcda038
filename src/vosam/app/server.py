"""The HTTP server of ``vosam app``: the standard library's threading server, a small JSON
API, and the static page.

A browser gets a session (:class:`~vosam.app.state.AppSession`) only by asking for one
(``POST /api/session``); it is then found by an HTTP-only, same-site cookie. Every request
passes :mod:`vosam.app.guards` first: a strict Host check, and for each POST a same-origin
check and a content type a cross-site page cannot send (``application/json``, or
``application/octet-stream`` for uploads). Bodies over their limit are refused from their
declared length, before they are read, and a request must arrive within the configured
timeout. Requests run on their own threads and long work on the job workers, so one
session's propagation never stalls another's page.

API (JSON bodies and answers; errors are ``{"error": "..."}`` with a 4xx status):

==========================================  ===============================================
``POST /api/session``                       this browser's session, made if it has none
``GET  /api/state``                         the session: video, objects, frames, job
``POST /api/open {path}``                   open a frame folder / video inside the workspace
``POST /api/upload?name=F`` (raw bytes)     open an uploaded video or zip of frames
``GET  /api/frame/<i>``                     frame ``i`` as JPEG
``GET  /api/mask/<i>``                      frame ``i``'s mask, coloured RGBA PNG
``GET  /api/ids/<i>``                       frame ``i``'s mask, DAVIS-palette PNG of ids
``POST /api/objects {name}``                new object → ``{id}``
``POST /api/objects/<id> {name}``           rename; ``{"delete": true}`` removes it
``POST /api/prompt {frame, object, points, labels, box}``  clicks / box → mask
``POST /api/embed {frame}``                 embed a frame ahead of the first click
``POST /api/paint {frame, object, points, radius, erase}`` brush or erase stroke
``POST /api/mask?frame=i`` (raw PNG)        upload frame ``i``'s annotation
``POST /api/clear {frame}``                 drop frame ``i``'s annotation
``POST /api/propagate {frame, direction}``  start propagation (forward / backward)
``POST /api/suggest {k}``                   start frame suggestion
``POST /api/export {kind}``                 start an export (masks / overlay / ytvis)
``POST /api/cancel``                        cancel the running job
``GET  /api/download/<file>``               an exported file
==========================================  ===============================================
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import threading
import unicodedata
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from vosam.app import fields
from vosam.app.config import AppConfig
from vosam.app.guards import (
    HTTPError,
    check_content_type,
    check_host,
    check_origin,
    is_loopback,
    parse_host,
)
from vosam.app.jobs import Workers
from vosam.app.models import Models
from vosam.app.plumbing import JSONHandler
from vosam.app.sessions import Sessions
from vosam.app.state import MAX_CLICKS, MAX_RADIUS, MAX_STROKE_POINTS, AppSession, Busy
from vosam.app.uploads import remove, size_text
from vosam.app.workspace import inside, safe_name
from vosam.engines import Propagator
from vosam.errors import InputError, VosamError
from vosam.io import DAVIS_COLORS, VOID_ID, palette_image
from vosam.refine import PromptableSegmenter

log = logging.getLogger(__name__)

__all__ = ["AppServer", "HTTPError", "create_server", "start_in_thread"]

COOKIE = "vosam_session"
JSON = "application/json"
RAW = "application/octet-stream"
MAX_JSON_BYTES = 4 * 1024 * 1024
MASK_ALPHA = 150
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}
_BUSY = json.dumps({"error": "the app serves as many connections as it takes; try again"})


class AppServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` holding the app's config, models, workers and sessions, and
    serving at most ``config.max_connections`` connections at once."""

    daemon_threads = True
    # connections the kernel holds before they are accepted; the default of 5 drops a
    # burst (a page's parallel requests) and the client retries only a second later
    request_queue_size = 128

    def __init__(
        self,
        config: AppConfig,
        *,
        propagator: Propagator | None = None,
        segmenter: PromptableSegmenter | None = None,
    ) -> None:
        self.config = config
        self.models = Models(config, propagator=propagator, segmenter=segmenter)
        self.workers = Workers(config.workers)
        self.sessions = Sessions(
            config, lambda folder: AppSession(config, self.models, self.workers, folder)
        )
        self.loopback = is_loopback(config.host)
        self._slots = threading.BoundedSemaphore(config.max_connections)
        super().__init__((config.host, config.port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            log.warning("refused a connection from %s: all slots in use", client_address[0])
            try:
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(_BUSY)}\r\n".encode()
                    + b"Connection: close\r\n\r\n"
                    + _BUSY.encode()
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def server_close(self) -> None:
        """Stop every session's job, wait for the workers, then remove every session with
        its files."""
        self.sessions.cancel_jobs()
        self.workers.shutdown()
        self.sessions.close()
        super().server_close()


def create_server(
    config: AppConfig,
    *,
    propagator: Propagator | None = None,
    segmenter: PromptableSegmenter | None = None,
) -> AppServer:
    """A bound, not yet serving app server; call ``serve_forever()`` (and ``shutdown()``,
    ``server_close()`` when done). Models given here are used instead of building the
    configured ones."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return AppServer(config, propagator=propagator, segmenter=segmenter)


def start_in_thread(server: AppServer) -> threading.Thread:
    """Serve on a daemon thread (tests, notebooks); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="vosam-app", daemon=True)
    thread.start()
    return thread


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def coloured_mask(mask: np.ndarray) -> Image.Image:
    """``uint8 (H, W)`` ids → RGBA image: each object in its palette colour, translucent;
    background and void transparent."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[..., :3] = DAVIS_COLORS[mask]
    rgba[..., 3] = np.where((mask == 0) | (mask == VOID_ID), 0, MASK_ALPHA)
    return Image.fromarray(rgba, "RGBA")


def _shown(name: str) -> str:
    """An uploaded file's name as put in messages: one line, no control characters."""
    clean = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return clean[:120] or "upload"


class Handler(JSONHandler):
    server: AppServer
    server_version = "vosam-app"

    @property
    def request_timeout_s(self) -> float:  # type: ignore[override]
        return self.server.config.request_timeout_s

    # -- checks ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self._cookie: str | None = None
        try:
            self.start_request()
            host = parse_host(self.headers)
            check_host(host, loopback_only=self.server.loopback)
            url = urlsplit(self.path)
            if method == "GET" and url.path in _STATIC:
                self._static(*_STATIC[url.path])
                return
            name, args = _route(method, url.path)
            self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "POST":
                peer = is_loopback(str(self.client_address[0]))
                check_origin(self.headers, host, peer_is_loopback=peer)
                check_content_type(self.headers, RAW if name in _RAW_ROUTES else JSON)
            if name == "post_session":
                self.post_session()
                return
            with self.server.sessions.use(self._token()) as self.session:
                getattr(self, name)(*args)
        except HTTPError as e:
            self.send_json_error(e.status, str(e))
        except Busy as e:
            self.send_json_error(HTTPStatus.CONFLICT, str(e))
        except VosamError as e:
            # paths in the workspace are shown relative to it
            message = str(e).replace(f"{self.server.config.workspace}/", "")
            self.send_json_error(HTTPStatus.BAD_REQUEST, message)
        except TimeoutError:
            log.debug("request %s timed out", self.path)
            self.close_connection = True
            self.pending = 0  # nothing more is read from this client
            self.send_json_error(HTTPStatus.REQUEST_TIMEOUT, "the request did not arrive in time")
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client went away")
            self.close_connection = True
        except Exception:
            log.exception("request %s failed", self.path)
            self.send_json_error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "the app failed on this request; the server log has the details",
            )

    def extra_headers(self) -> dict[str, str]:
        if not self._cookie:
            return {}
        return {"Set-Cookie": f"{COOKIE}={self._cookie}; Path=/; HttpOnly; SameSite=Strict"}

    def _token(self) -> str | None:
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except CookieError:
            return None
        morsel = cookie.get(COOKIE)
        return morsel.value if morsel else None

    def _static(self, name: str, content_type: str) -> None:
        body = resources.files("vosam.app").joinpath("static", name).read_bytes()
        self.send(
            HTTPStatus.OK,
            content_type,
            body,
            Content_Security_Policy="frame-ancestors 'none'",
            X_Frame_Options="DENY",
        )

    def _body(self) -> dict[str, Any]:
        """The request's JSON object (``{}`` for an empty body)."""
        length = self.pending
        if length > MAX_JSON_BYTES:
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"a JSON body of {length} bytes is over the limit of {MAX_JSON_BYTES} bytes",
            )
        return fields.parse_json(self.read_body())

    def _save_body(self, name: str) -> Path:
        """Stream the raw request body into this session's upload folder, after checking
        its declared length against the upload limit and the session's disk quota."""
        length = self.pending
        limit = self.server.config.max_upload_bytes
        if length == 0:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"{name}: the upload is empty")
        if length > limit:
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{name}: upload of {size_text(length)} is over the limit of {size_text(limit)}",
            )
        problem = self.session.quota_problem(length)
        if problem is not None:
            raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{name}: {problem}")
        folder = self.session.folder / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{secrets.token_hex(4)}-{safe_name(name)}"
        try:
            with open(target, "wb") as f:
                if not self.copy_body(f):
                    raise HTTPError(HTTPStatus.BAD_REQUEST, f"{name}: the upload was cut short")
        except BaseException:
            remove(target)
            raise
        return target

    def _state(self, **extra: Any) -> None:
        self.send_json({**extra, "state": self.session.to_json()})

    # -- routes ---------------------------------------------------------------------------

    def post_session(self) -> None:
        self._body()
        token, self.session, created = self.server.sessions.open(self._token())
        if created:
            self._cookie = token
        self._state(created=created)

    def get_state(self) -> None:
        self._state()

    def post_open(self) -> None:
        data = self._body()
        config = self.server.config
        path = inside(config.workspace, fields.text(data, "path"), private=config.data_dir)
        self.session.open_video(path)
        self._state()

    def post_upload(self) -> None:
        name = _shown(self.query.get("name") or "upload")
        saved = self._save_body(name)
        try:
            self.session.open_upload(saved, name)
        except Busy:
            raise
        except InputError as e:
            raise InputError(name, e.problem) from None
        self._state()

    def get_frame(self, index: str) -> None:
        jpeg = self.session.jpeg(fields.index_in_path(index, "frame"), _jpeg)
        self.send(HTTPStatus.OK, "image/jpeg", jpeg)

    def get_mask(self, index: str) -> None:
        mask = self.session.mask_copy(fields.index_in_path(index, "frame"))
        self.send(HTTPStatus.OK, "image/png", _png(coloured_mask(mask)))

    def get_ids(self, index: str) -> None:
        mask = self.session.mask_copy(fields.index_in_path(index, "frame"))
        self.send(HTTPStatus.OK, "image/png", _png(palette_image(mask)))

    def post_objects(self) -> None:
        data = self._body()
        object_id = self.session.add_object(fields.text(data, "name"))
        self._state(id=object_id)

    def post_object(self, object_id: str) -> None:
        oid = fields.index_in_path(object_id, "object")
        data = self._body()
        if fields.flag(data, "delete"):
            self.session.remove_object(oid)
        else:
            self.session.rename_object(oid, fields.text(data, "name"))
        self._state()

    def post_prompt(self) -> None:
        data = self._body()
        points = fields.points(data, "points", most=MAX_CLICKS)
        result = self.session.prompt(
            fields.integer(data, "frame"),
            fields.integer(data, "object"),
            points=points,
            labels=fields.labels(data, "labels", len(points)),
            box=fields.box(data, "box"),
        )
        self._state(**result)

    def post_embed(self) -> None:
        started = self.session.prefetch(fields.integer(self._body(), "frame"))
        self.send_json({"started": started})

    def post_paint(self) -> None:
        data = self._body()
        result = self.session.paint(
            fields.integer(data, "frame"),
            fields.integer(data, "object"),
            fields.points(data, "points", most=MAX_STROKE_POINTS),
            fields.number(data, "radius", low=0, high=MAX_RADIUS, default=8),
            erase=fields.flag(data, "erase"),
        )
        self._state(**result)

    def post_mask(self) -> None:
        text = self.query.get("frame", "")
        if not (text.isascii() and text.isdigit()):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "give ?frame=<index>")
        index = fields.index_in_path(text, "frame")
        saved = self._save_body(_shown(self.query.get("name") or "mask.png"))
        self.session.upload_mask(index, saved)
        self._state()

    def post_clear(self) -> None:
        self.session.clear_annotation(fields.integer(self._body(), "frame"))
        self._state()

    def post_propagate(self) -> None:
        data = self._body()
        direction = fields.text(data, "direction", default="forward", longest=20)
        self.session.propagate(fields.integer(data, "frame"), direction)
        self._state()

    def post_suggest(self) -> None:
        self.session.suggest(fields.integer(self._body(), "k", low=1, high=100, default=5))
        self._state()

    def post_export(self) -> None:
        self.session.export(fields.text(self._body(), "kind", longest=20))
        self._state()

    def post_cancel(self) -> None:
        self._body()
        self.session.cancel()
        self._state()

    def get_download(self, name: str) -> None:
        path = self.session.export_file(name)
        kinds = {".zip": "application/zip", ".mp4": "video/mp4", ".json": "application/json"}
        self.send(
            HTTPStatus.OK,
            kinds.get(path.suffix, "application/octet-stream"),
            path.read_bytes(),
            Content_Disposition=f'attachment; filename="{path.name}"',
        )


_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("POST", r"/api/session", "post_session"),
        ("GET", r"/api/state", "get_state"),
        ("POST", r"/api/open", "post_open"),
        ("POST", r"/api/upload", "post_upload"),
        ("GET", r"/api/frame/(\d+)", "get_frame"),
        ("GET", r"/api/mask/(\d+)", "get_mask"),
        ("GET", r"/api/ids/(\d+)", "get_ids"),
        ("POST", r"/api/objects", "post_objects"),
        ("POST", r"/api/objects/(\d+)", "post_object"),
        ("POST", r"/api/prompt", "post_prompt"),
        ("POST", r"/api/embed", "post_embed"),
        ("POST", r"/api/paint", "post_paint"),
        ("POST", r"/api/mask", "post_mask"),
        ("POST", r"/api/clear", "post_clear"),
        ("POST", r"/api/propagate", "post_propagate"),
        ("POST", r"/api/suggest", "post_suggest"),
        ("POST", r"/api/export", "post_export"),
        ("POST", r"/api/cancel", "post_cancel"),
        ("GET", r"/api/download/([A-Za-z0-9._-]+)", "get_download"),
    )
)
_RAW_ROUTES = frozenset({"post_upload", "post_mask"})


def _route(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    """The handler method of ``method path`` and its path arguments."""
    allowed = []
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            if route_method == method:
                return name, match.groups()
            allowed.append(route_method)
    if allowed:
        raise HTTPError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {' or '.join(allowed)}")
    raise HTTPError(HTTPStatus.NOT_FOUND, f"no such page: {path[:200]}")
