"""The HTTP server of ``vosam app``: the standard library's threading server, a bound on
the connections served at once, and the request handler that every request passes through
before its route's handler (:mod:`vosam.app.api`) runs.

A browser gets a session (:class:`~vosam.app.state.AppSession`) only by asking for one
(``POST /api/session``); it is then found by an HTTP-only, same-site cookie. Every request
passes :mod:`vosam.app.guards` first: a strict Host check, and for each POST a same-origin
check and a content type a cross-site page cannot send (``application/json``, or
``application/octet-stream`` for uploads). Bodies over their limit are refused from their
declared length, before they are read, and a request must arrive within the configured
timeout (:mod:`vosam.app.plumbing`). Requests run on their own threads and long work on the
job workers, so one session's propagation never stalls another's page.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vosam.app import fields
from vosam.app.api import ROUTES
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
from vosam.app.owners import clear_leftovers
from vosam.app.plumbing import JSONHandler
from vosam.app.quota import QuotaFull, size_text
from vosam.app.routing import match
from vosam.app.sessions import Sessions
from vosam.app.state import AppSession, Busy
from vosam.app.uploads import remove
from vosam.app.workspace import safe_name
from vosam.engines import Propagator
from vosam.errors import VosamError
from vosam.refine import PromptableSegmenter

log = logging.getLogger(__name__)

__all__ = ["AppServer", "HTTPError", "create_server", "serve", "start_in_thread"]

COOKIE = "vosam_session"
MAX_JSON_BYTES = 4 * 1024 * 1024
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}
_BUSY = b'{"error": "the app serves as many connections as it takes; try again"}'


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
                    + _BUSY
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
    """A bound, not yet serving app server; call :func:`serve` (or ``serve_forever()``, and
    ``shutdown()``, ``server_close()`` when done). Models given here are used instead of
    building the configured ones. Session folders left in the workspace by servers that
    have ended (killed, crashed) are removed first (:mod:`vosam.app.owners`)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    clear_leftovers(config.data_dir)
    return AppServer(config, propagator=propagator, segmenter=segmenter)


def serve(server: AppServer) -> None:
    """Serve until Ctrl+C (SIGINT) or SIGTERM, then close the server: jobs are cancelled
    and every session's folder is removed. After the close, SIGINT goes on as
    :class:`KeyboardInterrupt` and SIGTERM as ``SystemExit(143)``, the status of a process
    ended by SIGTERM; a second SIGTERM during the close is ignored, so that the clean-up is
    not cut short. Signals reach only the main thread: from another, SIGTERM is left as it
    was."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log.info("SIGTERM: stopping")
    raise SystemExit(128 + signum)


def start_in_thread(server: AppServer) -> threading.Thread:
    """Serve on a daemon thread (tests, notebooks); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="vosam-app", daemon=True)
    thread.start()
    return thread


class Handler(JSONHandler):
    """One connection's requests: checks, routing, the session, and the body parsed for the
    route's handler, which answers through :meth:`send_state` or the plumbing's ``send``.

    Attributes, set for the handler of each request:
        session: this browser's session (not for the route that makes it).
        query: the query string's last value of each name.
        new_cookie: the token of a session made by this request, sent in the answer.
    """

    server: AppServer
    server_version = "vosam-app"

    @property
    def request_timeout_s(self) -> float:  # type: ignore[override]
        return self.server.config.request_timeout_s

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self.new_cookie: str | None = None
        try:
            self.start_request()
            host = parse_host(self.headers)
            check_host(host, loopback_only=self.server.loopback)
            url = urlsplit(self.path)
            if method == "GET" and url.path in _STATIC:
                self._static(*_STATIC[url.path])
                return
            route, args = match(ROUTES, method, url.path)
            self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "POST":
                peer = is_loopback(str(self.client_address[0]))
                check_origin(self.headers, host, peer_is_loopback=peer)
                check_content_type(self.headers, route.body)
            if not route.needs_session:
                route.handler(self, *args)
                return
            with self.server.sessions.use(self.token()) as self.session:
                route.handler(self, *args)
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
        if not self.new_cookie:
            return {}
        return {"Set-Cookie": f"{COOKIE}={self.new_cookie}; Path=/; HttpOnly; SameSite=Strict"}

    def token(self) -> str | None:
        """The session token of this request's cookie, if it has one."""
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

    def json(self) -> dict[str, Any]:
        """The request's JSON object (``{}`` for an empty body), strictly parsed."""
        length = self.pending
        if length > MAX_JSON_BYTES:
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"a JSON body of {length} bytes is over the limit of {MAX_JSON_BYTES} bytes",
            )
        return fields.parse_json(self.read_body())

    def save_body(self, name: str) -> Path:
        """Stream the raw request body into this session's upload folder, after checking
        its declared length against the upload limit and reserving it under the session's
        disk quota (so that uploads arriving together cannot pass it between them)."""
        length = self.pending
        limit = self.server.config.max_upload_bytes
        if length == 0:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"{name}: the upload is empty")
        if length > limit:
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{name}: upload of {size_text(length)} is over the limit of {size_text(limit)}",
            )
        folder = self.session.folder / "uploads"
        target = folder / f"{secrets.token_hex(4)}-{safe_name(name)}"
        try:
            reservation = self.session.quota.reserve(length, target)
        except QuotaFull as e:
            raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{name}: {e.problem}") from None
        with reservation:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                with open(target, "wb") as f:
                    if not self.copy_body(f):
                        raise HTTPError(HTTPStatus.BAD_REQUEST, f"{name}: the upload was cut short")
            except BaseException:
                remove(target)
                raise
        return target

    def send_state(self, **extra: Any) -> None:
        """Answer ``extra`` with the session's state."""
        self.send_json({**extra, "state": self.session.to_json()})
