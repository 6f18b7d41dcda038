"""Background jobs: long work (propagation, suggestion, export) runs on worker threads so
that the server keeps answering, reports progress, and stops when cancelled."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vosam.errors import VosamError

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class Cancelled(Exception):
    """Raised inside a job's work when the user cancelled it."""


class Job:
    """One unit of long work and what the page shows about it.

    ``work(job)`` runs on a worker thread; it calls :meth:`advance` after each item (which
    raises :class:`Cancelled` once :meth:`cancel` was called) and returns a JSON-able result.

    States: ``queued`` → ``running`` → ``done`` | ``cancelled`` | ``failed``.

    ``locks_edits``: the work reads the session's objects and annotations as it goes (a
    propagation), so they must not change while the job is active.
    """

    def __init__(
        self, kind: str, total: int, work: Callable[[Job], Any], *, locks_edits: bool = False
    ) -> None:
        self.id = next(_ids)
        self.kind = kind
        self.total = total
        self.locks_edits = locks_edits
        self.done = 0
        self.state = "queued"
        self.result: Any = None
        self.error: str | None = None
        self.started = time.monotonic()
        self._work = work
        self._cancel = threading.Event()
        self._finished = threading.Event()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` items done; raise :class:`Cancelled` if the user cancelled."""
        self.done += n
        self.check()

    def report(self, done: int, total: int | None) -> None:
        """Progress counted by the work itself: ``done`` of ``total`` items (None: as
        planned); raise :class:`Cancelled` if the user cancelled."""
        self.done = done
        if total is not None:
            self.total = total
        self.check()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished; True unless ``timeout`` passed first."""
        return self._finished.wait(timeout)

    def run(self) -> None:
        try:
            self.check()
            self.state = "running"
            self.started = time.monotonic()
            self.result = self._work(self)
            self.state = "done"
        except Cancelled:
            self.state = "cancelled"
        except VosamError as e:
            self.state, self.error = "failed", str(e)
        except Exception:  # the page must hear about any failure, not a hung job
            log.exception("%s job failed", self.kind)
            self.state = "failed"
            self.error = f"the {self.kind} job failed; the server log has the details"
        finally:
            self._finished.set()

    def to_json(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "rate": self.done / elapsed if self.state == "running" and elapsed > 0 else None,
            "error": self.error,
            "result": self.result,
        }


class Workers:
    """A fixed pool of worker threads shared by every session."""

    def __init__(self, count: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="vosam-app-job")

    def submit(self, job: Job) -> Job:
        self._pool.submit(job.run)
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
