"""One browser session's state and the requests that change it.

The open video is a :class:`vosam.Session`: its objects (ids and names) are the session's
:class:`~vosam.objects.ObjectRegistry`, and the frames the user clicked, painted or uploaded
are the session's annotations, which propagation puts in permanent memory. Beside it the
app keeps only what the page needs: the same video opened a second time for showing frames
(a propagation reads the session's own source on its worker thread), the propagated masks,
a revision number per frame, the suggested frames, the running job, the segmenter's frame
embeddings and this session's folder (uploads, exports).

A video is opened by :mod:`vosam.app.opening`, clicks and boxes are answered by
:mod:`vosam.app.clicks`, and background work (propagation, suggestion, export) is started by
:mod:`vosam.app.tasks`.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vosam.app import fields
from vosam.app.brush import stroke_mask
from vosam.app.clicks import Embeddings
from vosam.app.config import AppConfig
from vosam.app.jobs import Job, Workers
from vosam.app.models import Models
from vosam.app.owners import claim
from vosam.app.packed import PackedMasks
from vosam.app.quota import DiskQuota, QuotaFull
from vosam.app.uploads import remove, remove_path, remove_tree
from vosam.errors import InputError, MaskError
from vosam.io import DAVIS_COLORS, FrameSource, read_mask
from vosam.objects import MAX_OBJECT_ID
from vosam.session import Session

log = logging.getLogger(__name__)

# numbers every state snapshot of this server; with _BOOT, tells a page which is newest
_SERIALS = itertools.count(1)
_BOOT = uuid.uuid4().hex[:12]

MAX_CLICKS = 100  # clicks of one prompt
MAX_STROKE_POINTS = 4096  # points of one brush stroke
MAX_RADIUS = 256.0  # brush radius, pixels
MAX_NAME = 60  # characters of an object's name
JPEGS_KEPT = 16  # encoded frames kept for the page
JOB_STOP_S = 30.0  # how long closing a session waits for its cancelled job


class Busy(InputError):
    """The session's job is still running."""


class AppSession:
    """State of one browser session. Methods are called from server threads; a lock keeps
    the state consistent while a job writes its results.

    While a propagation runs, the objects and annotations it works from stay as they are:
    requests that would change them are refused (:class:`Busy`).

    Args:
        folder: this session's private folder inside the workspace (uploads, exports),
            made here and marked as this server's (:mod:`vosam.app.owners`).
    """

    def __init__(self, config: AppConfig, models: Models, workers: Workers, folder: Path) -> None:
        self.config = config
        self.models = models
        self.workers = workers
        self.folder = folder
        self.ownership = claim(folder)  # made now, marked as this server's
        self.quota = DiskQuota(folder, config.max_session_bytes)
        self.lock = threading.RLock()
        self.session: Session | None = None  # the open video's objects and annotations
        self.frames: FrameSource | None = None  # the same video, read for the page
        self.upload: Path | None = None  # the open video's upload (a file or frame folder)
        self.video_label = ""
        self.generation = 0
        self.results = PackedMasks((0, 0))
        self.suggested: list[int] = []
        self.revisions: dict[int, int] = {}
        self.job: Job | None = None
        self.embeddings = Embeddings(models)
        self._jpegs: OrderedDict[int, bytes] = OrderedDict()

    # -- video ----------------------------------------------------------------------------

    def replace_video(
        self, session: Session, frames: FrameSource, label: str, *, upload: Path | None
    ) -> None:
        """Show another video (see :mod:`vosam.app.opening`): ``session`` holds its objects
        and annotations, ``frames`` the same video for the page; ``upload`` is its uploaded
        file or folder, if any, and the previous upload is deleted. Refused (and both
        closed) while a job runs."""
        with self.lock:
            if self.job is not None and self.job.active:
                frames.close()
                session.close()
                self.require_idle()
            self._close_video()
            previous = self.upload
            self.session, self.frames = session, frames
            self.upload = upload
            self.video_label = label
            self.generation += 1
            self.results = PackedMasks(frames.size)
            self.suggested = []
            self.revisions.clear()
            self.job = None
            self.embeddings.reset(self.generation)
            self._jpegs.clear()
        if previous is not None and previous != upload:
            remove_path(previous)
        log.info("opened %s (%d frames)", session.source.path, len(frames))

    def _close_video(self) -> None:
        if self.frames is not None:
            self.frames.close()
        if self.session is not None:
            self.session.close()
        self.session = self.frames = None

    # -- disk -----------------------------------------------------------------------------

    def disk_bytes(self) -> int:
        """Bytes this session holds on disk (uploads, unpacked frames, exports) and has
        reserved for uploads under way."""
        return self.quota.used()

    def room(self) -> int:
        """Bytes this session may still write under its disk quota."""
        return self.quota.room()

    def quota_problem(self, adding: int) -> str | None:
        """Why ``adding`` more bytes would not fit the disk quota; None when they fit."""
        used = self.quota.used()
        if used + adding <= self.quota.limit:
            return None
        return str(QuotaFull(adding, used, self.quota.limit))

    # -- checks ---------------------------------------------------------------------------

    def video(self) -> Session:
        """The open video's session."""
        if self.session is None:
            raise InputError(None, "open a video first")
        return self.session

    def check_frame(self, index: int) -> int:
        """``index``, checked to be a frame of the open video."""
        n = len(self.video())
        if not isinstance(index, int) or not 0 <= index < n:
            raise InputError(None, f"frame {index} is not in the video ({n} frames)")
        return index

    def check_object(self, object_id: int) -> int:
        """``object_id``, checked to be an object of the open video."""
        if object_id not in self.video().objects:
            raise InputError(None, f"object {object_id} does not exist; add it first")
        return object_id

    def require_idle(self) -> None:
        """No job of this session is queued or running."""
        if self.job is not None and self.job.active:
            raise Busy(None, f"a {self.job.kind} job is running; wait for it or cancel it")

    def require_editable(self) -> None:
        """The objects and annotations may change: no propagation is working from them."""
        if self.job is not None and self.job.active and self.job.locks_edits:
            self.require_idle()

    # -- frames ---------------------------------------------------------------------------

    def read(self, index: int) -> np.ndarray:
        """Frame ``index``: ``uint8 (H, W, 3)``."""
        with self.lock:
            self.check_frame(index)
            return self.frames.read(index)  # type: ignore[union-attr]

    def jpeg(self, index: int, encode: Callable[[np.ndarray], bytes]) -> bytes:
        """Frame ``index`` encoded by ``encode(image)``; the last few are kept."""
        with self.lock:
            self.check_frame(index)
            if index in self._jpegs:
                self._jpegs.move_to_end(index)
                return self._jpegs[index]
            data = encode(self.read(index))
            self._jpegs[index] = data
            if len(self._jpegs) > JPEGS_KEPT:
                self._jpegs.popitem(last=False)
            return data

    # -- masks ----------------------------------------------------------------------------

    def mask_of(self, index: int) -> np.ndarray:
        """A copy of what frame ``index`` shows: its annotation, else its propagated mask,
        else nothing. ``uint8 (H, W)``."""
        with self.lock:
            session = self.video()
            mask = session.annotations.get(self.check_frame(index))
            if mask is None:
                mask = self.results.get(index)
            if mask is None:
                mask = np.zeros(session.size, np.uint8)
            return mask

    def annotate(self, index: int, mask: np.ndarray) -> None:
        """Make ``mask`` the annotation of frame ``index``."""
        self.video().add_annotation(index, mask)
        self._revised(index)

    def propagated(self, generation: int, index: int, mask: np.ndarray) -> None:
        """Show ``mask`` as frame ``index``'s propagated mask, made from video
        ``generation``.

        Raises:
            InputError: another video was opened (or the session closed) since.
        """
        with self.lock:
            if generation != self.generation:
                raise InputError(None, "the video changed; propagation stopped")
            self.results[index] = mask
            self._revised(index)

    def _revised(self, index: int) -> None:
        self.revisions[index] = self.revisions.get(index, 0) + 1

    def paint(
        self,
        index: int,
        object_id: int,
        points: list[tuple[float, float]],
        radius: float,
        *,
        erase: bool,
    ) -> dict[str, Any]:
        """Brush (or erase) ``object_id`` along ``points`` ``(x, y)`` on frame ``index``
        with a brush of ``radius`` pixels (``0 < radius <= MAX_RADIUS``). Erasing removes
        only that object's pixels."""
        with self.lock:
            self.check_frame(index)
            self.check_object(object_id)
            if not points:
                raise InputError(None, "a brush stroke needs at least one point")
            if not 0 < radius <= MAX_RADIUS:
                raise InputError(None, f"'radius' must be above 0 and at most {MAX_RADIUS:g}")
            size = self.video().size
            fields.on_frame("points", points, size)
            self.require_editable()
            covered = stroke_mask(size, np.asarray(points, np.float64), radius)
            mask = self.mask_of(index)
            if erase:
                mask[covered & (mask == object_id)] = 0
            else:
                mask[covered] = object_id
            self.annotate(index, mask)
            return {"area": int((mask == object_id).sum())}

    def upload_mask(self, index: int, saved: Path) -> None:
        """Take an uploaded mask file as the annotation of frame ``index``; ids not yet
        objects become objects. A mask of another size is refused."""
        try:
            with self.lock:
                size = self.video().size
                self.check_frame(index)
            try:
                mask = read_mask(saved, expected_size=size)
            except MaskError as e:
                raise type(e)(f"mask for frame {index}", e.problem) from None
            with self.lock:
                self.require_idle()
                self.annotate(index, mask)
        finally:
            remove(saved)

    def clear_annotation(self, index: int) -> None:
        """Forget frame ``index``'s annotation (its propagated mask shows again)."""
        with self.lock:
            session = self.video()
            self.check_frame(index)
            self.require_editable()
            if index in session.annotations:
                session.remove_annotation(index)
            self._revised(index)

    # -- objects --------------------------------------------------------------------------

    def add_object(self, name: str | None = None) -> int:
        """A new object with the smallest free id (1..254); returns its id."""
        with self.lock:
            objects = self.video().objects
            self.require_editable()
            if len(objects) >= MAX_OBJECT_ID:
                raise InputError(None, f"at most {MAX_OBJECT_ID} objects")
            return objects.add(objects.next_id(), (name or "").strip()[:MAX_NAME] or None)

    def rename_object(self, object_id: int, name: str) -> None:
        with self.lock:
            self.check_object(object_id)
            self.video().objects.add(object_id, name.strip()[:MAX_NAME] or f"object {object_id}")

    def remove_object(self, object_id: int) -> None:
        """Delete ``object_id`` and erase it from every annotated and propagated frame."""
        with self.lock:
            self.require_idle()
            self.check_object(object_id)
            session = self.video()
            for index, mask in session.annotations.items():
                if (mask == object_id).any():
                    self._revised(index)
            session.remove_object(object_id)
            for index in list(self.results):
                mask = self.results[index]
                if (mask == object_id).any():
                    mask[mask == object_id] = 0
                    self.results[index] = mask
                    self._revised(index)

    # -- jobs -----------------------------------------------------------------------------

    def start(self, job: Job) -> Job:
        """Run ``job`` on the workers, unless a job of this session is running."""
        with self.lock:
            self.require_idle()
            self.job = job
        return self.workers.submit(job)

    def cancel(self) -> None:
        with self.lock:
            if self.job is not None:
                self.job.cancel()

    # -- views ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            video, objects, annotated = None, [], []
            if self.session is not None:
                h, w = self.session.size
                video = {
                    "label": self.video_label,
                    "generation": self.generation,
                    "frames": len(self.session),
                    "width": w,
                    "height": h,
                    "names": list(self.session.names),
                }
                names = self.session.objects.names
                objects = [
                    {"id": i, "name": names[i], "color": _hex(DAVIS_COLORS[i])}
                    for i in self.session.objects.ids
                ]
                annotated = sorted(self.session.annotations)
            return {
                # snapshots are numbered in the order they are taken, so a page can drop a
                # response that overtook a newer one on the way
                "serial": next(_SERIALS),
                "boot": _BOOT,
                "video": video,
                "objects": objects,
                "annotated": annotated,
                "propagated": sorted(self.results),
                "suggested": list(self.suggested),
                "revisions": {str(i): r for i, r in self.revisions.items()},
                "job": None if self.job is None else self.job.to_json(),
                "limits": {
                    "max_upload_bytes": self.config.max_upload_bytes,
                    "max_session_bytes": self.config.max_session_bytes,
                    "session_idle_s": self.config.session_idle_s,
                    "max_frames": self.config.max_frames,
                },
            }

    def close(self) -> None:
        """End the session: stop its job, close its video, delete its folder (uploads and
        exports)."""
        with self.lock:
            job = self.job
            if job is not None:
                job.cancel()
            if self.frames is not None:
                self.frames.close()
            session, self.session, self.frames = self.session, None, None
            self.upload = None
            self.generation += 1
        if job is not None and job.state == "running" and not job.wait(JOB_STOP_S):
            log.warning("the %s job did not stop within %g s", job.kind, JOB_STOP_S)
        if session is not None:  # after the job, which may be reading its frames
            session.close()
        remove_tree(self.folder)
        self.ownership.release()


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)
