"""Browser sessions of the app, found by an unguessable cookie token.

A session is made only on request (``POST /api/session``, see :mod:`vosam.app.server`); a
request without a known token gets none. Sessions end when idle for
:attr:`~vosam.app.config.AppConfig.session_idle_s` (no request in flight or for that long,
and no job running) or when the server stops, and their folder (uploads, exports) goes
with them. While :attr:`~vosam.app.config.AppConfig.max_sessions` are open a new one is
refused: the arrival of a client never ends another's session.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path

from vosam.app.config import AppConfig
from vosam.app.guards import HTTPError
from vosam.app.state import AppSession

log = logging.getLogger(__name__)


class _Entry:
    def __init__(self, session: AppSession) -> None:
        self.session = session
        self.last_used = time.monotonic()
        self.in_flight = 0

    def idle_for(self, now: float) -> float:
        job = self.session.job
        if self.in_flight or (job is not None and job.active):
            return 0.0
        return now - self.last_used


class Sessions:
    """The open sessions by token. ``make(folder)`` builds a session writing in ``folder``.

    A background thread drops idle sessions; :meth:`close` stops it and drops the rest.
    """

    def __init__(self, config: AppConfig, make: Callable[[Path], AppSession]) -> None:
        self.config = config
        self._make = make
        self._items: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="vosam-app-sweep")
        self._sweeper.daemon = True
        self._sweeper.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def open(self, token: str | None) -> tuple[str, AppSession, bool]:
        """The live session of ``token``, or a new one: ``(token, session, created)``.

        Raises:
            HTTPError: 503 while every session slot is in use.
        """
        self.sweep()
        with self._lock:
            entry = self._items.get(token or "")
            if entry is not None:
                entry.last_used = time.monotonic()
                return token, entry.session, False  # type: ignore[return-value]
            if len(self._items) >= self.config.max_sessions:
                raise HTTPError(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    f"all {self.config.max_sessions} sessions of this app are in use; one "
                    f"frees up after {_duration(self.config.session_idle_s)} without use",
                )
            token = secrets.token_urlsafe(24)
            # the folder is named by a digest, so a listing of the data folder gives no token
            digest = hashlib.sha256(token.encode()).hexdigest()[:20]
            self._items[token] = _Entry(self._make(self.config.data_dir / digest))
            log.info("session %s… opened (%d open)", digest[:6], len(self._items))
            return token, self._items[token].session, True

    @contextlib.contextmanager
    def use(self, token: str | None) -> Iterator[AppSession]:
        """Hold the session of ``token`` for one request (it is not idle meanwhile).

        Raises:
            HTTPError: 401 when ``token`` names no live session.
        """
        with self._lock:
            entry = self._items.get(token or "")
            if entry is not None and entry.idle_for(time.monotonic()) > self.config.session_idle_s:
                entry = None  # expired; the sweeper removes it
            if entry is None:
                raise HTTPError(
                    HTTPStatus.UNAUTHORIZED,
                    "this browser has no session (sessions end after "
                    f"{_duration(self.config.session_idle_s)} without use, and when the "
                    "server stops); reload the page to start one",
                )
            entry.in_flight += 1
        try:
            yield entry.session
        finally:
            with self._lock:
                entry.in_flight -= 1
                entry.last_used = time.monotonic()

    def sweep(self) -> int:
        """Drop every session idle for longer than the limit; returns how many."""
        now = time.monotonic()
        with self._lock:
            gone = [
                token
                for token, entry in self._items.items()
                if entry.idle_for(now) > self.config.session_idle_s
            ]
            entries = [self._items.pop(token) for token in gone]
        for entry in entries:
            log.info("session in %s ended after being idle", entry.session.folder.name[:6])
            entry.session.close()
        return len(entries)

    def _sweep_loop(self) -> None:
        interval = min(max(self.config.session_idle_s / 4, 0.05), 60.0)
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception:  # the sweeper must outlive one bad clean-up
                log.exception("dropping idle sessions failed")

    def cancel_jobs(self) -> None:
        """Ask every session's job to stop (the server is stopping)."""
        with self._lock:
            sessions = [entry.session for entry in self._items.values()]
        for session in sessions:
            session.cancel()

    def close(self) -> None:
        """Stop dropping idle sessions and drop all, with their files."""
        self._stop.set()
        self._sweeper.join(timeout=5)
        with self._lock:
            entries = list(self._items.values())
            self._items.clear()
        for entry in entries:
            entry.session.close()


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:g} seconds"
