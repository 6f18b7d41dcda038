"""Fetching a file over HTTP(S) into a partial file that survives interruptions.

:func:`fetch` writes to ``NAME.part`` and resumes it with an HTTP ``Range`` request, both
when the connection drops during the transfer (it retries by itself) and on a later call
(a ``.part`` left by a stopped run is continued). The caller checks the complete ``.part``
and renames it into place; nothing here ever writes the final file.
"""

from __future__ import annotations

import http.client
import logging
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from vosam.errors import DownloadError
from vosam.progress import Progress, _clock

log = logging.getLogger(__name__)

__all__ = ["fetch", "human_size"]

_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def human_size(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ``358.0 MiB``, ``2.39 GiB``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}" if unit == "GiB" else f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


class _BytesProgress(Progress):
    """Bytes done of the total, the rate of this transfer and the time left."""

    def __init__(self, total: int | None, label: str, *, offset: int, enabled: bool) -> None:
        super().__init__(total, label, enabled=enabled, every=2.0)
        self.done = offset
        self.offset = offset

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return (self.done - self.offset) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate
        speed = f"{human_size(rate)}/s"
        if self.total is None:
            return f"{self.label} {human_size(self.done)}  {speed}"
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"{self.label} {human_size(self.done)}/{human_size(self.total)} ({pct:.0f}%)  "
            f"{speed}  ETA {_clock(left) if left == left else '?'}"
        )


class _Retry(Exception):
    """The transfer stopped early; try again from what the partial file holds."""


def fetch(
    url: str,
    part: Path,
    *,
    label: str = "download",
    progress: bool = True,
    retries: int = 5,
    wait: float = 1.0,
    timeout: float = 60.0,
) -> int:
    """Download ``url`` into ``part``, continuing what ``part`` already holds.

    Args:
        url: the address.
        part: the partial file (created, or resumed with an HTTP ``Range`` request).
        label: what the progress line calls the file.
        progress: show bytes, rate and time left on stderr.
        retries: transfers that stop early are resumed this many times; a server that
            cannot be reached at all fails at once.
        wait: seconds before the first retry, doubled for each next one (at most 30).
        timeout: seconds a connection may stay silent.

    Returns:
        the size of the complete file.

    Raises:
        DownloadError: the server cannot be reached, refuses the file, or keeps breaking
            off the transfer (naming the address and the reason).
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    attempts = 0
    received = False  # a byte came in during this call: a later failure is worth a retry
    while True:
        have = part.stat().st_size if part.exists() else 0
        try:
            total, got = _transfer(url, part, have, label, progress, timeout)
            received = received or got > 0
            return total
        except _Retry as why:
            received = True
            reason = str(why)
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
            reason = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if not received:
                reason = getattr(exc, "reason", exc)
                raise DownloadError(f"cannot download {url} ({reason})") from exc
            reason = str(exc) or type(exc).__name__
        attempts += 1
        if attempts > retries:
            raise DownloadError(
                f"cannot download {url}: the transfer broke off {attempts} times ({reason}); "
                f"{part.name} keeps what came and a next try continues it"
            )
        pause = min(wait * 2 ** (attempts - 1), 30.0)
        log.warning("%s: transfer broke off (%s); resuming in %.0f s", url, reason, pause)
        time.sleep(pause)


def _transfer(
    url: str, part: Path, have: int, label: str, progress: bool, timeout: float
) -> tuple[int, int]:
    """One request: append to ``part`` from byte ``have``. Returns (total size, bytes got)."""
    from vosam import __version__

    headers = {"User-Agent": f"vosam/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # the range starts at or past the end: complete already, or a stale partial file
            match = re.fullmatch(r"bytes \*/(\d+)", exc.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == have:
                return have, 0
            part.unlink()
            raise _Retry("the partial file did not fit the server's file; starting again") from exc
        raise
    with response:
        start, total = _extent(response, have)
        if start not in (0, have):
            part.unlink()
            raise _Retry(f"the server resumed at byte {start}, not {have}; starting again")
        if start == 0 and have:
            log.info("%s: the server sends the whole file; starting again", url)
        mode = "ab" if start else "wb"
        got = 0
        with (
            open(part, mode) as out,
            _BytesProgress(total, label, offset=start, enabled=progress) as bar,
        ):
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Retry(f"{type(exc).__name__} after {start + got} bytes") from exc
                if not chunk:
                    break
                out.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    size = start + got
    if total is not None and size != total:
        raise _Retry(f"the connection closed after {size} of {total} bytes")
    return size, got


def _extent(response, have: int) -> tuple[int, int | None]:
    """(first byte sent, whole file's size or None) of a response to a request from
    byte ``have``."""
    length = response.headers.get("Content-Length")
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None:
            raise _Retry("the server answered a range request without a Content-Range")
        start, total = int(match.group(1)), match.group(3)
        return start, None if total == "*" else int(total)
    return 0, int(length) if length is not None else None
