"""The HTTP plumbing under the app's API handler (:mod:`vosam.app.server`): a deadline on
reading each request, JSON answers and errors, ``100 Continue`` only once a request has
passed its checks, and a connection whose body was refused closed without reading it."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, BinaryIO

from vosam.app.config import MIN_UPLOAD_RATE
from vosam.app.guards import DeadlineReader, HTTPError, declared_length

log = logging.getLogger(__name__)

JSON = "application/json"
LINGER_S = 2.0  # after an answer with the body unread: how long to drop what still comes
LINGER_BYTES = 1024 * 1024  # ... and how much of it at most


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler whose every read is under a deadline: the request line and
    headers must arrive within :attr:`request_timeout_s`, the body within that plus one
    second per :data:`~vosam.app.config.MIN_UPLOAD_RATE` bytes.

    A subclass calls :meth:`start_request` first, then reads the body with
    :meth:`read_body` or :meth:`copy_body` once the request has passed its checks, and
    answers with :meth:`send` / :meth:`send_json`.
    """

    protocol_version = "HTTP/1.1"
    request_timeout_s = 30.0

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self._reader = DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, 1 << 16)
        self.pending = 0  # declared body bytes not read yet

    def handle_one_request(self) -> None:
        # the request line and headers must all arrive within the timeout, however slowly
        # they trickle in; an idle kept-alive connection is closed after it as well
        self._reader.deadline = time.monotonic() + self.request_timeout_s
        self._continue = False
        self.pending = 0
        super().handle_one_request()

    def handle_expect_100(self) -> bool:
        # "100 Continue" is sent only once the request has passed its checks
        # (begin_body), so that a refused upload is never sent
        self._continue = True
        return True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (malformed request line, unknown method,
        headers too long) in the JSON form of the API's errors."""
        self.close_connection = True
        body = json.dumps({"error": message or HTTPStatus(code).phrase}).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def start_request(self) -> None:
        """Note the declared body length.

        Raises:
            HTTPError: a malformed length or a transfer encoding; the connection closes
                after the answer, as where this request ends is unknown.
        """
        try:
            self.pending = declared_length(self.headers)
        except HTTPError:
            self.close_connection = True
            raise

    def extra_headers(self) -> dict[str, str]:
        """Headers added to every answer (a subclass's cookie)."""
        return {}

    def send(self, status: HTTPStatus, content_type: str, body: bytes, **headers: str) -> None:
        """Answer the request. A body left unread (refused, or sent with a GET) is not read
        now: the connection is closed after the answer, reading (and dropping) at most
        :data:`LINGER_BYTES` of what the client still sends, so that the client hears the
        answer rather than a reset connection."""
        unread = self.pending > 0
        if unread:
            self.close_connection = True
        self.connection.settimeout(self.request_timeout_s)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in {**self.extra_headers(), **headers}.items():
            self.send_header(key.replace("_", "-"), value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if unread:
            self._linger()

    def send_json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send(status, JSON, json.dumps(data).encode())

    def send_json_error(self, status: HTTPStatus, message: str) -> None:
        """Answer ``{"error": message}``; a client already gone is fine."""
        try:
            self.send_json({"error": message}, status)
        except OSError:
            self.close_connection = True

    def _linger(self) -> None:
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self._reader.deadline = time.monotonic() + LINGER_S
            left = LINGER_BYTES
            while left > 0:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:  # TimeoutError included
            pass

    def begin_body(self) -> None:
        """The request passed its checks: let its body come (``100 Continue`` where the
        client waits for it), within the timeout plus time for its length."""
        allowed = self.request_timeout_s + self.pending / MIN_UPLOAD_RATE
        self._reader.deadline = time.monotonic() + allowed
        if self._continue:
            self._continue = False
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()

    def read_body(self) -> bytes:
        """The whole body (its length was checked by the caller).

        Raises:
            HTTPError: 400 when the client sent less than it declared.
        """
        self.begin_body()
        raw = self.rfile.read(self.pending) if self.pending else b""
        self.pending -= len(raw)
        if self.pending:
            self.close_connection = True
            raise HTTPError(HTTPStatus.BAD_REQUEST, "the request body was cut short")
        return raw

    def copy_body(self, out: BinaryIO) -> bool:
        """Stream the body into ``out``; False when the client sent less than it declared."""
        self.begin_body()
        while self.pending:
            chunk = self.rfile.read1(min(self.pending, 1 << 20))
            if not chunk:
                self.close_connection = True
                return False
            out.write(chunk)
            self.pending -= len(chunk)
        return True
