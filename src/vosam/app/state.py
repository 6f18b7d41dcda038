"""One browser session's state.

The open video is a :class:`vosam.Session`: its objects (ids and names) are the session's
:class:`~vosam.objects.ObjectRegistry`, and the annotated frames are the session's
annotations, which propagation puts in permanent memory. Beside it the app keeps what the
page needs: the same video opened a second time for showing frames (a propagation reads the
session's own source on its worker thread), the propagated masks, the corrections (see
:mod:`vosam.app.edits`), the undo history, a revision number per frame, the suggested
frames, the running job, the segmenter's frame embeddings, this session's folder (uploads,
exports) and the video's run folder in the workspace, where the work is saved
(:mod:`vosam.app.saved`).

A video is opened by :mod:`vosam.app.opening`, clicks and boxes are answered by
:mod:`vosam.app.clicks`, the other edits by :mod:`vosam.app.editing`, and background work
(propagation, suggestion, export) is started by :mod:`vosam.app.tasks`.
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

from vosam.app.clicks import Embeddings
from vosam.app.config import AppConfig
from vosam.app.edits import ANNOTATION, CORRECTION, Change, History, Work
from vosam.app.jobs import Job, Workers
from vosam.app.models import Models
from vosam.app.owners import claim
from vosam.app.packed import MaskView, PackedMasks
from vosam.app.quota import DiskQuota, QuotaFull
from vosam.app.saved import Snapshot
from vosam.app.saver import Saver
from vosam.app.saving import SaveState, Saving
from vosam.app.uploads import remove_path, remove_tree
from vosam.errors import InputError
from vosam.io import DAVIS_COLORS, FrameSource
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
        saver: saves the work in the background; None: the work is not saved.
    """

    def __init__(
        self,
        config: AppConfig,
        models: Models,
        workers: Workers,
        folder: Path,
        saver: Saver | None = None,
    ) -> None:
        self.config = config
        self.models = models
        self.workers = workers
        self.folder = folder
        self.ownership = claim(folder)  # made now, marked as this server's
        self.quota = DiskQuota(folder, config.max_session_bytes)
        self.saver = saver
        self.lock = threading.RLock()
        self.session: Session | None = None  # the open video's objects and annotations
        self.frames: FrameSource | None = None  # the same video, read for the page
        self.upload: Path | None = None  # the open video's upload (a file or frame folder)
        self.video_label = ""
        self.generation = 0
        self.results = PackedMasks((0, 0))
        self.corrections = PackedMasks((0, 0))
        self.history = History()
        self.suggested: list[int] = []
        self.revisions: dict[int, int] = {}
        self.job: Job | None = None
        self.embeddings = Embeddings(models)
        self.saved = SaveState(Saving(problem="no video is open"))
        self._annotations: dict[int, np.ndarray] | None = None
        self._saving = threading.Lock()
        self._jpegs: OrderedDict[int, bytes] = OrderedDict()

    # -- video ----------------------------------------------------------------------------

    def replace_video(
        self,
        session: Session,
        frames: FrameSource,
        label: str,
        *,
        upload: Path | None,
        saving: Saving | None = None,
    ) -> None:
        """Show another video (see :mod:`vosam.app.opening`): ``session`` holds its objects
        and annotations, ``frames`` the same video for the page; ``upload`` is its uploaded
        file or folder, if any, and the previous upload is deleted; ``saving`` says where
        its work is saved and holds the work saved before. The previous video's work is
        saved first. Refused (and both closed) while a job runs."""
        saving = saving or Saving(problem="uploaded videos are not saved")
        loaded = saving.loaded
        if loaded is not None:
            for object_id, name in sorted(loaded.objects.items()):
                session.objects.add(object_id, name)
            for index, mask in sorted(loaded.annotations.items()):
                session.add_annotation(index, mask)
        self.flush()
        with self.lock:
            if self.job is not None and self.job.active:
                frames.close()
                session.close()
                self.require_idle()
            self._close_video(keep=None if saving.store is None else saving.store.path)
            previous = self.upload
            self.session, self.frames = session, frames
            self.upload = upload
            self.video_label = label
            self.generation += 1
            self.results = PackedMasks(frames.size)
            self.corrections = PackedMasks(frames.size)
            if loaded is not None:
                self.results.update(loaded.results)
                self.corrections.update(loaded.corrections)
            self.history.clear()
            self.suggested = []
            self.revisions.clear()
            self.job = None
            self.embeddings.reset(self.generation)
            self._jpegs.clear()
            self._annotations = None
            self.saved = SaveState(saving)
        if previous is not None and previous != upload:
            remove_path(previous)
        log.info("opened %s (%d frames)", session.source.path, len(frames))

    def _close_video(self, *, keep: Path | None = None) -> None:
        """Close the video; its run folder is released unless it is ``keep``."""
        store = self.saved.store
        if store is not None and self.saver is not None and store.path != keep:
            self.saver.release(store.path, self)
        self.saved = SaveState(Saving(problem="no video is open"))
        if self.frames is not None:
            self.frames.close()
        if self.session is not None:
            self.session.close()
        self.session = self.frames = None

    def flush(self) -> None:
        """Save the unsaved work now."""
        if self.saver is not None:
            self.saver.flush(self)

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

    def annotated(self) -> dict[int, np.ndarray]:
        """The session's annotations (one copy, kept until they change: do not modify)."""
        if self._annotations is None:
            self._annotations = self.video().annotations
        return self._annotations

    def mask_of(self, index: int) -> np.ndarray:
        """A copy of what frame ``index`` shows: its annotation, else its correction, else
        its propagated mask, else nothing. ``uint8 (H, W)``."""
        with self.lock:
            session = self.video()
            self.check_frame(index)
            for masks in (self.annotated(), self.corrections, self.results):
                if index in masks:
                    return masks[index].copy()
            return np.zeros(session.size, np.uint8)

    def shown(self) -> MaskView:
        """What every frame shows, frozen now (for suggestion and exports)."""
        with self.lock:
            merged = self.results.copy()
            merged.update(self.corrections)
            return MaskView(len(self.video()), self.annotated(), merged)

    def propagated(self, generation: int, index: int, mask: np.ndarray) -> None:
        """Show ``mask`` as frame ``index``'s propagated mask, made from video
        ``generation``; the work is saved when the job ends (:meth:`request_save`).

        Raises:
            InputError: another video was opened (or the session closed) since.
        """
        with self.lock:
            if generation != self.generation:
                raise InputError(None, "the video changed; propagation stopped")
            self.results[index] = mask
            self._revised(index, save=False)

    def _revised(self, index: int, *, save: bool = True) -> None:
        self.revisions[index] = self.revisions.get(index, 0) + 1
        self.saved.mark(index)
        if save:
            self.request_save()

    # -- the user's work ------------------------------------------------------------------

    def work_of(self, index: int) -> Work | None:
        """The user's work on frame ``index``: its annotation or correction, or None."""
        annotation = self.annotated().get(index)
        if annotation is not None:
            return Work.of(ANNOTATION, annotation)
        if index in self.corrections:
            return Work.of(CORRECTION, self.corrections[index])
        return None

    def edit_kind(self, index: int) -> str:
        """What an edit of frame ``index`` makes: a correction on a propagated frame that
        is not annotated, else an annotation."""
        if index in self.annotated():
            return ANNOTATION
        if index in self.results or index in self.corrections:
            return CORRECTION
        return ANNOTATION

    def edit(
        self,
        index: int,
        object_id: int | None,
        label: str,
        change: Callable[[np.ndarray, int], np.ndarray],
        *,
        prompt: dict[str, Any] | None = None,
    ) -> tuple[int, np.ndarray]:
        """Change what frame ``index`` shows by ``change(mask, object_id)`` (a new ``uint8
        (H, W)`` mask), for ``object_id``, or for a new object when None. The frame's new
        mask corrects it when it was propagated and is not annotated, else annotates it
        (:meth:`edit_kind`). Returns the object's id and the new mask.

        ``prompt``: the clicks or box that made the change, kept for undo (see
        :class:`~vosam.app.edits.Change`).
        """
        with self.lock:
            session = self.video()
            self.check_frame(index)
            self.require_editable()
            objects_before = dict(session.objects.names)
            if object_id is None:
                object_id = self.new_object()
            else:
                self.check_object(object_id)
            mask = change(self.mask_of(index), object_id)
            if prompt is not None:
                prompt = {"frame": index, "object": object_id, **prompt}
            kind = self.edit_kind(index)
            self.apply(label, {index: Work.of(kind, mask)}, objects_before, prompt=prompt)
            return object_id, mask

    def new_object(self, name: str | None = None) -> int:
        """Register a new object with the smallest free id (1..254); returns its id. Hold
        :attr:`lock` and record the change."""
        objects = self.video().objects
        if len(objects) >= MAX_OBJECT_ID:
            raise InputError(None, f"at most {MAX_OBJECT_ID} objects")
        return objects.add(objects.next_id(), (name or "").strip()[:MAX_NAME] or None)

    def apply(
        self,
        label: str,
        frames: dict[int, Work | None],
        objects_before: dict[int, str],
        *,
        prompt: dict[str, Any] | None = None,
        then: Callable[[], None] | None = None,
    ) -> Change:
        """Set the work of ``frames``, call ``then()`` if given, and record the change for
        undo, with the objects as they were before it (``objects_before``) and are now.
        Hold :attr:`lock`."""
        before = {index: self.work_of(index) for index in frames}
        for index, work in frames.items():
            self._set_work(index, work)
        if then is not None:
            then()
        objects = (objects_before, dict(self.video().objects.names))
        change = Change(label, {i: (before[i], w) for i, w in frames.items()}, objects, prompt)
        if not change.empty:
            self.history.record(change)
        return change

    def restore(self, change: Change, *, redo: bool) -> None:
        """Put back the work and objects from before ``change`` (after it, for ``redo``).
        Hold :attr:`lock`."""
        before, after = change.objects
        target, other = (after, before) if redo else (before, after)
        for index, (was, then) in change.frames.items():
            self._set_work(index, then if redo else was)
        objects = self.video().objects
        for object_id in other.keys() - target.keys():
            self.drop_object(object_id)
        for object_id in sorted(target.keys() - other.keys()):
            objects.add(object_id, target[object_id])

    def _set_work(self, index: int, work: Work | None) -> None:
        session = self.video()
        if (work is None or work.kind == CORRECTION) and index in self.annotated():
            session.remove_annotation(index)
            self._annotations = None
        if work is None or work.kind == ANNOTATION:
            self.corrections.pop(index, None)
        if work is not None and work.kind == ANNOTATION:
            session.add_annotation(index, work.mask())
            self._annotations = None
        elif work is not None:
            self.corrections[index] = work.mask()
        self._revised(index)

    def drop_object(self, object_id: int) -> None:
        """Remove ``object_id`` from the objects, and its pixels from every frame."""
        session = self.video()
        if object_id in session.objects:
            for index, mask in self.annotated().items():
                if (mask == object_id).any():
                    self._revised(index)
            session.remove_object(object_id)
            self._annotations = None
        for masks in (self.corrections, self.results):
            for index in list(masks):
                mask = masks[index]
                if (mask == object_id).any():
                    mask[mask == object_id] = 0
                    masks[index] = mask
                    self._revised(index)

    # -- saving ---------------------------------------------------------------------------

    def request_save(self) -> None:
        """Save the work in the background soon, if it is saved at all."""
        if self.saved.store is not None and self.saver is not None:
            self.saver.request(self)

    def save_now(self) -> None:
        """Write the unsaved work to the video's run folder (:mod:`vosam.app.saved`)."""
        with self._saving:
            with self.lock:
                state, store = self.saved, self.saved.store
                if store is None or self.session is None or not state.unsaved:
                    return
                snap = Snapshot(
                    names=self.session.names,
                    objects=dict(self.session.objects.names),
                    annotations=self.annotated(),
                    corrections=self.corrections.copy(),
                    results=self.results.copy(),
                    changed=state.begin(),
                    frames=self.frames,  # type: ignore[arg-type]
                )
            try:
                store.save(snap)
            except (InputError, OSError) as e:
                problem = e.problem if isinstance(e, InputError) else f"{e.strerror or e}"
                log.warning("cannot save in %s: %s", store.shown, problem)
                with self.lock:
                    state.failed(snap.changed, f"cannot save in {store.shown}: {problem}")
                return
            with self.lock:
                state.done()

    def lose_folder(self) -> None:
        """Another session opened this video: its work is saved from there now."""
        with self.lock:
            self.saved.lose()

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
                annotated = sorted(self.annotated())
            return {
                # snapshots are numbered in the order they are taken, so a page can drop a
                # response that overtook a newer one on the way
                "serial": next(_SERIALS),
                "boot": _BOOT,
                "video": video,
                "objects": objects,
                "annotated": annotated,
                "corrected": sorted(self.corrections),
                "propagated": sorted(self.results),
                "suggested": list(self.suggested),
                "history": self.history.to_json(),
                "saved": self.saved.to_json(),
                "revisions": {str(i): r for i, r in self.revisions.items()},
                "job": None if self.job is None else self.job.to_json(),
                "limits": {
                    "max_upload_bytes": self.config.max_upload_bytes,
                    "max_session_bytes": self.config.max_session_bytes,
                    "session_idle_s": self.config.session_idle_s,
                    "max_frames": self.config.max_frames,
                    "save_delay_s": self.config.save_delay_s,
                    "fps": self.config.fps,
                },
            }

    def close(self) -> None:
        """End the session: stop its job, save its work, close its video, delete its
        folder (uploads and exports)."""
        with self.lock:
            job = self.job
            if job is not None:
                job.cancel()
        if job is not None and job.state == "running" and not job.wait(JOB_STOP_S):
            log.warning("the %s job did not stop within %g s", job.kind, JOB_STOP_S)
        self.flush()  # with what the job propagated before it stopped
        with self.lock:
            if self.saved.store is not None and self.saver is not None:
                self.saver.release(self.saved.store.path, self)
            self.saved = SaveState(Saving(problem="no video is open"))
            if self.frames is not None:
                self.frames.close()
            session, self.session, self.frames = self.session, None, None
            self.upload = None
            self.generation += 1
        if session is not None:  # after the job, which may be reading its frames
            session.close()
        remove_tree(self.folder)
        self.ownership.release()


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)
