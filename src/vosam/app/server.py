"""The HTTP server of ``vosam app``: the standard library's threading server, a small JSON
API, and the static page.

Each browser gets its own :class:`~vosam.app.state.AppSession`, found by an HTTP-only,
same-site cookie. Requests run on their own threads and long work on the job workers, so
one session's propagation never stalls another's page.

API (JSON bodies and answers; errors are ``{"error": "..."}`` with a 4xx status):

==========================================  ===============================================
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

import hashlib
import io
import ipaddress
import json
import logging
import re
import secrets
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from vosam.app.config import AppConfig
from vosam.app.jobs import Workers
from vosam.app.models import Models
from vosam.app.state import AppSession, Busy
from vosam.app.workspace import inside, safe_name
from vosam.engines import Propagator
from vosam.errors import InputError, VosamError
from vosam.io import DAVIS_COLORS, VOID_ID, palette_image
from vosam.refine import PromptableSegmenter

log = logging.getLogger(__name__)

COOKIE = "vosam_session"
MAX_JSON_BYTES = 4 * 1024 * 1024
DRAIN_BYTES = 64 * 1024 * 1024
MASK_ALPHA = 150
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


class HTTPError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Sessions:
    """Browser sessions by cookie token; the least recently used is dropped past the limit."""

    def __init__(self, config: AppConfig, models: Models, workers: Workers) -> None:
        self.config = config
        self.models = models
        self.workers = workers
        self._items: OrderedDict[str, AppSession] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str | None) -> tuple[str, AppSession, bool]:
        """The session of ``token``, or a new one; ``(token, session, created)``."""
        with self._lock:
            if token and token in self._items:
                self._items.move_to_end(token)
                return token, self._items[token], False
            token = secrets.token_urlsafe(24)
            digest = hashlib.sha256(token.encode()).hexdigest()[:20]
            folder = self.config.data_dir / digest
            session = AppSession(self.config, self.models, self.workers, folder)
            self._items[token] = session
            while len(self._items) > self.config.max_sessions:
                _, old = self._items.popitem(last=False)
                old.close()
            return token, session, True

    def close(self) -> None:
        with self._lock:
            for session in self._items.values():
                session.close()
            self._items.clear()


class AppServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` holding the app's config, models, workers and sessions."""

    daemon_threads = True

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
        self.sessions = Sessions(config, self.models, self.workers)
        self.loopback = _is_loopback(config.host)
        super().__init__((config.host, config.port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/"

    def server_close(self) -> None:
        self.sessions.close()
        self.workers.shutdown()
        super().server_close()


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


class Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.1"
    server_version = "vosam-app"

    # -- plumbing -------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self._cookie: str | None = None
        try:
            self._pending = max(int(self.headers.get("Content-Length") or 0), 0)
        except ValueError:
            self._pending = 0
        try:
            self._check_host()
            url = urlsplit(self.path)
            self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "GET" and url.path in _STATIC:
                self._static(*_STATIC[url.path])
                return
            if not url.path.startswith("/api/"):  # favicon and the like: no session made
                raise HTTPError(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
            token, self.session, created = self.server.sessions.get(self._token())
            if created:
                self._cookie = token
            for route_method, pattern, name in _ROUTES:
                match = pattern.fullmatch(url.path)
                if match and route_method == method:
                    getattr(self, name)(*match.groups())
                    return
            raise HTTPError(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
        except HTTPError as e:
            self._json({"error": str(e)}, e.status)
        except Busy as e:
            self._json({"error": str(e)}, HTTPStatus.CONFLICT)
        except VosamError as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client went away")
        except Exception as e:
            log.exception("request %s failed", self.path)
            self._json({"error": f"{type(e).__name__}: {e}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _check_host(self) -> None:
        """Behind loopback, answer only requests addressed to a loopback name (a web page
        elsewhere cannot reach the app through DNS rebinding)."""
        if not self.server.loopback:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in _LOOPBACK_NAMES and not _is_loopback(name):
            raise HTTPError(HTTPStatus.FORBIDDEN, f"host {host!r} is not served")

    def _token(self) -> str | None:
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except Exception:
            return None
        morsel = cookie.get(COOKIE)
        return morsel.value if morsel else None

    def _send(self, status: HTTPStatus, content_type: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self._cookie:
            self.send_header(
                "Set-Cookie", f"{COOKIE}={self._cookie}; Path=/; HttpOnly; SameSite=Strict"
            )
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        if status >= 400 and self._unread_body:
            self._drain()
        self._send(status, "application/json", json.dumps(data).encode())

    def _drain(self) -> None:
        """Read what is left of a refused request's body, so that the client gets the answer
        rather than a reset connection; past :data:`DRAIN_BYTES` the connection is closed."""
        if self._pending > DRAIN_BYTES:
            self.close_connection = True
            return
        while self._pending > 0:
            chunk = self.rfile.read(min(self._pending, 1 << 20))
            if not chunk:
                self.close_connection = True
                break
            self._pending -= len(chunk)

    def _static(self, name: str, content_type: str) -> None:
        body = resources.files("vosam.app").joinpath("static", name).read_bytes()
        self._send(HTTPStatus.OK, content_type, body)

    @property
    def _unread_body(self) -> bool:
        return self._pending > 0

    def _length(self, limit: int) -> int:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise HTTPError(HTTPStatus.LENGTH_REQUIRED, "the request has no length") from None
        self._pending = length
        if length < 0:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "negative length")
        if length > limit:
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"upload of {length / 2**20:.1f} MiB is over the limit of {limit / 2**20:.1f} MiB",
            )
        return length

    def _body(self) -> dict[str, Any]:
        length = self._length(MAX_JSON_BYTES)
        raw = self.rfile.read(length) if length else b"{}"
        self._pending = 0
        try:
            data = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"bad JSON ({e})") from e
        if not isinstance(data, dict):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "expected a JSON object")
        return data

    def _save_body(self, name: str) -> Path:
        """Stream the raw request body into this session's upload folder."""
        length = self._length(self.server.config.max_upload_bytes)
        if length == 0:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"{name}: the upload is empty")
        folder = self.session.folder / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{secrets.token_hex(4)}-{safe_name(name)}"
        with open(target, "wb") as f:
            left = length
            while left:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    f.close()
                    target.unlink()
                    raise HTTPError(HTTPStatus.BAD_REQUEST, f"{name}: the upload was cut short")
                f.write(chunk)
                left -= len(chunk)
                self._pending = left
        return target

    def _state(self, **extra: Any) -> None:
        self._json({**extra, "state": self.session.to_json()})

    @staticmethod
    def _int(data: dict[str, Any], key: str) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"'{key}' must be an integer")
        return value

    # -- routes ---------------------------------------------------------------------------

    def get_state(self) -> None:
        self._state()

    def post_open(self) -> None:
        data = self._body()
        path = inside(self.server.config.workspace, str(data.get("path") or ""))
        self.session.open_video(path)
        self._state()

    def post_upload(self) -> None:
        name = self.query.get("name") or "upload"
        saved = self._save_body(name)
        try:
            self.session.open_upload(saved)
        except Busy:
            raise
        except InputError as e:
            raise InputError(name, e.problem) from None
        self._state()

    def get_frame(self, index: str) -> None:
        self._send(HTTPStatus.OK, "image/jpeg", self.session.jpeg(int(index), _jpeg))

    def get_mask(self, index: str) -> None:
        mask = self.session.mask_copy(int(index))
        self._send(HTTPStatus.OK, "image/png", _png(coloured_mask(mask)))

    def get_ids(self, index: str) -> None:
        mask = self.session.mask_copy(int(index))
        self._send(HTTPStatus.OK, "image/png", _png(palette_image(mask)))

    def post_objects(self) -> None:
        data = self._body()
        object_id = self.session.add_object(str(data.get("name") or ""))
        self._state(id=object_id)

    def post_object(self, object_id: str) -> None:
        data = self._body()
        if data.get("delete"):
            self.session.remove_object(int(object_id))
        else:
            self.session.rename_object(int(object_id), str(data.get("name") or ""))
        self._state()

    def post_prompt(self) -> None:
        data = self._body()
        points = data.get("points") or None
        labels = data.get("labels") or None
        result = self.session.prompt(
            self._int(data, "frame"),
            self._int(data, "object"),
            points=points,
            labels=labels,
            box=data.get("box"),
        )
        self._state(**result)

    def post_embed(self) -> None:
        started = self.session.prefetch(self._int(self._body(), "frame"))
        self._json({"started": started})

    def post_paint(self) -> None:
        data = self._body()
        try:
            radius = float(data.get("radius", 8))
        except (TypeError, ValueError):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "'radius' must be a number") from None
        result = self.session.paint(
            self._int(data, "frame"),
            self._int(data, "object"),
            data.get("points") or [],
            radius,
            erase=bool(data.get("erase")),
        )
        self._state(**result)

    def post_mask(self) -> None:
        try:
            index = int(self.query.get("frame", ""))
        except ValueError:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "give ?frame=<index>") from None
        saved = self._save_body(self.query.get("name") or "mask.png")
        self.session.upload_mask(index, saved)
        self._state()

    def post_clear(self) -> None:
        self.session.clear_annotation(self._int(self._body(), "frame"))
        self._state()

    def post_propagate(self) -> None:
        data = self._body()
        self.session.propagate(self._int(data, "frame"), str(data.get("direction", "forward")))
        self._state()

    def post_suggest(self) -> None:
        data = self._body()
        self.session.suggest(int(data.get("k", 5)))
        self._state()

    def post_export(self) -> None:
        self.session.export(str(self._body().get("kind", "")))
        self._state()

    def post_cancel(self) -> None:
        self._body()
        self.session.cancel()
        self._state()

    def get_download(self, name: str) -> None:
        path = self.session.export_file(name)
        kinds = {".zip": "application/zip", ".mp4": "video/mp4", ".json": "application/json"}
        self._send(
            HTTPStatus.OK,
            kinds.get(path.suffix, "application/octet-stream"),
            path.read_bytes(),
            Content_Disposition=f'attachment; filename="{path.name}"',
        )


_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), name)
    for method, pattern, name in (
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
