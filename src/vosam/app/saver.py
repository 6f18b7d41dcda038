"""Saving every session's work in the background (see :mod:`vosam.app.saved`), a moment
after its first unsaved change, on its own thread so that neither requests nor jobs wait
for the disk.

A run folder is written by one session at a time: the session that opened its video last.
When another session opens the same video, the first one's pending work is saved, and
that session stops saving (its page says so).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Saves(Protocol):
    """What the saver asks of a session."""

    def save_now(self) -> None: ...

    def lose_folder(self) -> None: ...


class Saver:
    """The background saver of one server; ``delay_s`` after a session's first unsaved
    change, its work is saved."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._due: dict[Saves, float] = {}
        self._owners: dict[Path, Saves] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="vosam-app-save", daemon=True)
        self._thread.start()

    def request(self, session: Saves) -> None:
        """``session`` has unsaved work: save it within ``delay_s`` (a later change does not
        postpone it)."""
        with self._cond:
            if session not in self._due:
                self._due[session] = time.monotonic() + self.delay_s
                self._cond.notify()

    def flush(self, session: Saves) -> None:
        """Save ``session``'s pending work now, on this thread."""
        with self._cond:
            self._due.pop(session, None)
        _save(session)

    def take(self, folder: Path, session: Saves) -> None:
        """``session`` writes ``folder`` from now on; a session that wrote it before saves
        its pending work first, then stops writing there."""
        with self._cond:
            previous = self._owners.get(folder)
            self._owners[folder] = session
        if previous is not None and previous is not session:
            self.flush(previous)
            previous.lose_folder()

    def release(self, folder: Path, session: Saves) -> None:
        """``session`` no longer writes ``folder`` (it closed, or opened another video)."""
        with self._cond:
            if self._owners.get(folder) is session:
                del self._owners[folder]
            self._due.pop(session, None)

    def stop(self) -> None:
        """Stop the thread (sessions flush their own work when they close)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    ready = [s for s, due in self._due.items() if due <= now]
                    if ready:
                        break
                    wait = min(self._due.values(), default=now + 60) - now
                    self._cond.wait(timeout=max(wait, 0.01))
                if self._stopped:
                    return
                for session in ready:
                    del self._due[session]
            for session in ready:
                _save(session)


def _save(session: Saves) -> None:
    try:
        session.save_now()
    except Exception:  # the saver must outlive one failed save; the session reports it
        log.exception("saving a session's work failed")
