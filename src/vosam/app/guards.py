"""What every request of the app must pass before any of its work is done: a well-formed
Host (a loopback name when serving on loopback), for state-changing requests a same-origin
check and a content type a cross-site page cannot send without asking, a declared body
length within the limit, and a deadline on reading it all.

Nothing here knows the API's routes; :mod:`vosam.app.server` applies these checks.
"""

from __future__ import annotations

import io
import ipaddress
import re
import socket
import time
from email.message import Message
from http import HTTPStatus

LOOPBACK_NAMES = frozenset({"localhost", "localhost."})

# RFC 3986 host (reg-name, IPv4 or bracketed IPv6) and an optional port; nothing else, so
# "127.0.0.1:80@evil.example" or "localhost:80:1" are malformed rather than read leniently
_HOST = re.compile(
    r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?)(?::(?P<port>[0-9]{1,5}))?"
)
_LENGTH = re.compile(r"[0-9]{1,15}")


class HTTPError(Exception):
    """A request refused with ``status``; the message is shown to the user as is."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback."""
    host = host.lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def parse_host(headers: Message) -> str:
    """The request's single ``Host`` header, checked to be ``host[:port]`` and lower-cased.

    Raises:
        HTTPError: 400 when the header is missing, repeated or malformed.
    """
    values = headers.get_all("Host") or []
    if len(values) != 1:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "a request needs exactly one Host header")
    host = values[0].strip().lower()
    match = _HOST.fullmatch(host)
    if match is None or (match["port"] is not None and int(match["port"]) > 65535):
        raise HTTPError(HTTPStatus.BAD_REQUEST, f"malformed Host header {host[:80]!r}")
    name = match["name"]
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            raise HTTPError(
                HTTPStatus.BAD_REQUEST, f"malformed Host header {host[:80]!r}"
            ) from None
    return host


def check_host(host: str, *, loopback_only: bool) -> None:
    """Behind loopback, serve only requests addressed to a loopback name, so that a web page
    elsewhere cannot reach the app through DNS rebinding.

    ``host`` is what :func:`parse_host` returned.
    """
    if not loopback_only:
        return
    name = _HOST.fullmatch(host)["name"]  # type: ignore[index]
    if not is_loopback(name):
        raise HTTPError(HTTPStatus.FORBIDDEN, f"host {host!r} is not served")


def check_origin(headers: Message, host: str, *, peer_is_loopback: bool) -> None:
    """A state-changing request must come from the app's own page: its ``Origin`` is
    ``http://<Host>``. A request without ``Origin`` (not a browser: browsers send it on
    every POST) is taken only from this machine. ``Sec-Fetch-Site``, where a browser sends
    it, must say the request is same-origin.

    Raises:
        HTTPError: 403.
    """
    site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
    if site and site not in ("same-origin", "none"):
        raise HTTPError(HTTPStatus.FORBIDDEN, f"a {site} request is refused; use the app's page")
    origins = headers.get_all("Origin") or []
    if not origins:
        if peer_is_loopback:
            return
        raise HTTPError(
            HTTPStatus.FORBIDDEN, "a request without an Origin header is taken only from loopback"
        )
    origin = origins[0].strip().lower()
    if len(origins) > 1 or origin != f"http://{host}":
        raise HTTPError(
            HTTPStatus.FORBIDDEN, f"origin {origin[:80]!r} is not this app (http://{host})"
        )


def check_content_type(headers: Message, expected: str) -> None:
    """The request's media type must be ``expected``. The app's are ``application/json``
    and ``application/octet-stream``, which a cross-site page cannot send without a CORS
    preflight, and the app answers no preflight.

    Raises:
        HTTPError: 415.
    """
    given = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if given != expected:
        raise HTTPError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"this request needs Content-Type {expected}, not {given or 'none'}",
        )


def declared_length(headers: Message) -> int:
    """The body length the request declares (0 when it declares none).

    Raises:
        HTTPError: 400 for a malformed or repeated ``Content-Length``; 501 for a
            ``Transfer-Encoding``, which the app does not take.
    """
    if headers.get("Transfer-Encoding") is not None:
        raise HTTPError(HTTPStatus.NOT_IMPLEMENTED, "chunked or encoded bodies are not taken")
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    text = values[0].strip()
    if len(values) > 1 or _LENGTH.fullmatch(text) is None:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "malformed Content-Length header")
    return int(text)


class DeadlineReader(io.RawIOBase):
    """The raw reading side of a connection, where every read fails with ``TimeoutError``
    once :attr:`deadline` (``time.monotonic()``) has passed, however the client trickles
    its bytes. Each read also sets the socket's timeout to what is left, so one blocked
    read cannot outlast the deadline."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.deadline = time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)
