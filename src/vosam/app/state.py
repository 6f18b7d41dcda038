"""One browser session's work: the open video, its objects, annotated and propagated
masks, suggested frames, the running job and the exported files.

Everything here goes through vosam's public API: :func:`vosam.io.open_source` for frames,
a :class:`vosam.Session` per propagation, the promptable segmenter for clicks and boxes,
:mod:`vosam.annotate` for suggestions.

Annotated frames (clicked, painted or uploaded) are the session's ground truth: each
propagation builds a fresh :class:`vosam.Session` holding all of them in permanent memory,
so a corrected frame steers every later propagation.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
import zipfile
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vosam.annotate import suggest_frames
from vosam.app import fields
from vosam.app.brush import stroke_mask
from vosam.app.config import AppConfig
from vosam.app.exports import (
    write_mask_zip,
    write_overlay_video,
    write_youtube_vis,
    youtube_vis,
)
from vosam.app.jobs import Job, Workers
from vosam.app.models import Models
from vosam.app.packed import MaskView, PackedMasks
from vosam.app.reverse import ReversedSource
from vosam.app.uploads import (
    folder_bytes,
    remove,
    remove_path,
    remove_tree,
    size_text,
    unpack_frames,
)
from vosam.app.workspace import check_frame_files, relative, safe_name
from vosam.errors import InputError, MaskError
from vosam.io import DAVIS_COLORS, FrameSource, open_source, read_mask
from vosam.refine import ImageEmbedding, Prompt
from vosam.session import Session

log = logging.getLogger(__name__)

# numbers every state snapshot of this server; with _BOOT, tells a page which is newest
_SERIALS = itertools.count(1)
_BOOT = uuid.uuid4().hex[:12]

MAX_OBJECTS = 254
EMBEDDINGS_KEPT = 2  # frames whose segmenter embedding is kept for further clicks
EXPORT_KINDS = ("masks", "overlay", "ytvis")
EXPORT_FILES = {"masks": "-masks.zip", "overlay": "-overlay.mp4", "ytvis": "-ytvis.json"}
MAX_CLICKS = 100  # clicks of one prompt
MAX_STROKE_POINTS = 4096  # points of one brush stroke
MAX_RADIUS = 256.0  # brush radius, pixels
JOB_STOP_S = 30.0  # how long closing a session waits for its cancelled job
QUOTA_CHECK_EVERY = 16  # frames written by an export between two looks at the disk quota


class Busy(InputError):
    """The session's job is still running."""


class AppSession:
    """State of one browser session. Methods are called from server threads; a lock keeps
    the masks consistent while a job writes its results.

    Args:
        folder: this session's private folder inside the workspace (uploads, exports).
    """

    def __init__(self, config: AppConfig, models: Models, workers: Workers, folder: Path) -> None:
        self.config = config
        self.models = models
        self.workers = workers
        self.folder = folder
        self.lock = threading.RLock()
        self.source: FrameSource | None = None
        self.upload: Path | None = None  # the open video's upload (a file or frame folder)
        self.video_label = ""
        self.generation = 0
        self.annotations: dict[int, np.ndarray] = {}
        self.results = PackedMasks((0, 0))
        self.objects: dict[int, str] = {}
        self.suggested: list[int] = []
        self.revisions: dict[int, int] = {}
        self.job: Job | None = None
        self._embeddings: OrderedDict[tuple[int, int], ImageEmbedding] = OrderedDict()
        self._ahead: tuple[tuple[int, int], Future[ImageEmbedding]] | None = None
        self._segmenting = threading.Lock()
        self._jpegs: OrderedDict[int, bytes] = OrderedDict()

    # -- video ----------------------------------------------------------------------------

    def open_video(self, path: Path) -> None:
        """Open a frame folder or video file of the workspace; the current video stays open
        if it fails. Frame files of a folder must lie in the workspace, links resolved, and
        outside the app's data folder; frames are held to Pillow's bomb limit."""
        label = relative(self.config.workspace, path)
        self._open(path, label, upload=False, max_pixels=Image.MAX_IMAGE_PIXELS)

    def open_upload(self, saved: Path, name: str) -> None:
        """Open an uploaded file: a video, or a zip of frame images, shown as ``name``.
        On failure the upload is deleted and the session keeps its video; on success the
        previous upload is deleted. Frames are held to the upload pixel budget.

        Raises:
            InputError: naming the problem (not the upload's name: the caller adds it).
        """
        target = saved
        try:
            if zipfile.is_zipfile(saved):
                target = unpack_frames(
                    saved,
                    limit=self.config.max_upload_bytes,
                    room=self.room(),
                    max_frames=self.config.max_frames,
                    max_pixels=self.config.max_upload_pixels,
                )
                remove(saved)
            self._open(target, name, upload=True, max_pixels=self.config.max_upload_pixels)
        except InputError as e:
            remove(saved)
            if target != saved:
                remove_tree(target)
            # name the upload (and a frame unpacked from it) as the user knows it, never by
            # its place in the app's data folder
            problem = e.problem.replace(f"{target}/", "").replace(str(target), name)
            problem = problem.replace(str(saved), name)
            if e.path is not None and e.path.parent == target:  # one unpacked frame
                problem = f"{e.path.name}: {problem}"
            raise type(e)(None, problem) from None
        except BaseException:
            remove(saved)
            if target != saved:
                remove_tree(target)
            raise

    def _open(self, path: Path, label: str, *, upload: bool, max_pixels: int) -> None:
        with self.lock:
            self._require_idle()
        try:
            source = open_source(path)
        except Image.DecompressionBombError:
            raise InputError(
                label, f"a frame has more than Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels"
            ) from None
        try:
            h, w = source.size
            if len(source) > self.config.max_frames:
                raise InputError(
                    label,
                    f"has {len(source)} frames; this app takes at most {self.config.max_frames}",
                )
            if h * w > max_pixels:
                kind = "uploads" if upload else "frames (Pillow's decompression-bomb limit)"
                raise InputError(label, f"frames are {w}×{h}, over {max_pixels} pixels for {kind}")
            if not upload:
                check_frame_files(self.config.workspace, source, private=self.config.data_dir)
        except BaseException:
            source.close()
            raise
        with self.lock:
            if self.job is not None and self.job.active:
                source.close()
                self._require_idle()
            if self.source is not None:
                self.source.close()
            previous = self.upload
            self.source = source
            self.upload = path if upload else None
            self.video_label = label
            self.generation += 1
            self.annotations.clear()
            self.results = PackedMasks(source.size)
            self.objects.clear()
            self.suggested = []
            self.revisions.clear()
            self.job = None
            self._embeddings.clear()
            self._jpegs.clear()
        if previous is not None and previous != path:
            remove_path(previous)
        log.info("opened %s (%d frames)", path, len(source))

    # -- disk -----------------------------------------------------------------------------

    def disk_bytes(self) -> int:
        """Bytes this session holds on disk (uploads, unpacked frames, exports)."""
        return folder_bytes(self.folder)

    def room(self) -> int:
        """Bytes this session may still write under its disk quota."""
        return max(self.config.max_session_bytes - self.disk_bytes(), 0)

    def quota_problem(self, adding: int) -> str | None:
        """Why ``adding`` more bytes would not fit the disk quota; None when they fit."""
        used = self.disk_bytes()
        quota = self.config.max_session_bytes
        if used + adding <= quota:
            return None
        return (
            f"{size_text(adding)} more would pass this session's disk quota of "
            f"{size_text(quota)} ({size_text(used)} in use)"
        )

    def _video(self) -> FrameSource:
        if self.source is None:
            raise InputError(None, "open a video first")
        return self.source

    def _frame(self, index: int) -> int:
        n = len(self._video())
        if not isinstance(index, int) or not 0 <= index < n:
            raise InputError(None, f"frame {index} is not in the video ({n} frames)")
        return index

    def _require_idle(self) -> None:
        if self.job is not None and self.job.active:
            raise Busy(None, f"a {self.job.kind} job is running; wait for it or cancel it")

    def read(self, index: int) -> np.ndarray:
        """Frame ``index``: ``uint8 (H, W, 3)``."""
        with self.lock:
            return self._video().read(self._frame(index))

    def jpeg(self, index: int, encode) -> bytes:
        """Frame ``index`` encoded by ``encode(image) -> bytes``; the last few are cached."""
        with self.lock:
            self._frame(index)
            if index in self._jpegs:
                self._jpegs.move_to_end(index)
                return self._jpegs[index]
            data = encode(self.read(index))
            self._jpegs[index] = data
            if len(self._jpegs) > 16:
                self._jpegs.popitem(last=False)
            return data

    # -- masks ----------------------------------------------------------------------------

    def mask_of(self, index: int) -> np.ndarray:
        """What frame ``index`` shows: its annotation, else its propagated mask, else empty.
        ``uint8 (H, W)``; an annotation is returned as stored, so copy before changing it."""
        with self.lock:
            mask = self.annotations.get(index)
            if mask is None:
                mask = self.results.get(index)
            if mask is None:
                mask = np.zeros(self._video().size, np.uint8)
            return mask

    def mask_copy(self, index: int) -> np.ndarray:
        """A copy of :meth:`mask_of` after checking that frame ``index`` exists."""
        with self.lock:
            return self.mask_of(self._frame(index)).copy()

    def _annotate(self, index: int, mask: np.ndarray) -> None:
        self.annotations[index] = mask
        self.revisions[index] = self.revisions.get(index, 0) + 1

    def _object(self, object_id: int) -> int:
        if object_id not in self.objects:
            raise InputError(None, f"object {object_id} does not exist; add it first")
        return object_id

    def prompt(
        self,
        index: int,
        object_id: int,
        *,
        points: list[tuple[float, float]] | None = None,
        labels: list[int] | None = None,
        box: tuple[float, float, float, float] | None = None,
    ) -> dict[str, Any]:
        """Segment ``object_id`` on frame ``index`` from clicks ``(x, y)`` with labels 1
        (positive) / 0 (negative) and/or a box ``(x0, y0, x1, y1)``; the frame becomes an
        annotation with the object's pixels replaced by the prediction.

        Raises:
            InputError: no clicks and no box, labels not 0/1 or not one per click, or a
                position off the frame.
        """
        points, labels = list(points or []), list(labels or [])
        if not points and box is None:
            raise InputError(None, "bad prompt: give clicks ('points' and 'labels') or a 'box'")
        if len(labels) != len(points) or any(label not in (0, 1) for label in labels):
            raise InputError(None, "bad prompt: give one label, 1 or 0, per click")
        with self.lock:
            self._frame(index)
            self._object(object_id)
            size = self._video().size
            fields.on_frame("points", points, size)
            if box is not None:
                fields.on_frame("box", [box[:2], box[2:]], size)
            generation = self.generation
            image = self.read(index)
        prompt = Prompt(
            box=None if box is None else np.asarray(box, np.float32),
            points=np.asarray(points, np.float32).reshape(-1, 2) if points else None,
            labels=np.asarray(labels, np.int32) if points else None,
        )
        segmenter = self.models.segmenter
        with self._segmenting:  # one prompt at a time: clicks apply in the order sent
            embedding = self._embedded(generation, index, image)
            prediction = segmenter.predict(embedding, prompt)
        with self.lock:
            if generation != self.generation:
                raise InputError(None, "the video changed while segmenting; click again")
            mask = self.mask_of(index).copy()
            mask[mask == object_id] = 0
            mask[prediction.mask] = object_id
            self._annotate(index, mask)
        return {"score": float(prediction.score), "area": int(prediction.mask.sum())}

    def _embedded(self, generation: int, index: int, image: np.ndarray) -> ImageEmbedding:
        """The segmenter's embedding of frame ``index``: cached, or being made ahead of the
        click (then waited for), or made now."""
        key = (generation, index)
        with self.lock:
            embedding = self._embeddings.get(key)
            ahead = self._ahead if self._ahead is not None and self._ahead[0] == key else None
        if embedding is not None:
            return embedding
        if ahead is not None:
            try:
                return ahead[1].result()
            except Exception:
                log.debug("embedding ahead of the click failed; embedding again")
        embedding = self.models.segmenter.embed(image)
        self._remember(key, embedding)
        return embedding

    def _remember(self, key: tuple[int, int], embedding: ImageEmbedding) -> None:
        with self.lock:
            if key[0] != self.generation:
                return
            self._embeddings[key] = embedding
            self._embeddings.move_to_end(key)
            while len(self._embeddings) > EMBEDDINGS_KEPT:
                self._embeddings.popitem(last=False)

    def prefetch(self, index: int) -> bool:
        """Embed frame ``index`` for clicks on a background thread, so that the first click
        on it need not wait. Skipped (False) while a job runs, while another frame is being
        embedded ahead, or when the frame is embedded already. A click on another frame
        never waits for it."""
        with self.lock:
            self._frame(index)
            key = (self.generation, index)
            busy = self._ahead is not None and not self._ahead[1].done()
            if (self.job is not None and self.job.active) or busy or key in self._embeddings:
                return False
            future: Future[ImageEmbedding] = Future()
            self._ahead = (key, future)

        def work() -> None:
            try:
                with self.lock:
                    if key[0] != self.generation:
                        raise InputError(None, "the video changed")
                    image = self.read(index)
                embedding = self.models.segmenter.embed(image)
            except Exception as e:  # the click that follows reports any problem
                log.debug("embedding frame %d ahead of a click failed", index, exc_info=True)
                future.set_exception(e)
                return
            self._remember(key, embedding)
            future.set_result(embedding)

        threading.Thread(target=work, name="vosam-app-embed", daemon=True).start()
        return True

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
            self._frame(index)
            self._object(object_id)
            if not points:
                raise InputError(None, "a brush stroke needs at least one point")
            if not 0 < radius <= MAX_RADIUS:
                raise InputError(None, f"'radius' must be above 0 and at most {MAX_RADIUS:g}")
            fields.on_frame("points", points, self._video().size)
            covered = stroke_mask(self._video().size, np.asarray(points, np.float64), radius)
            mask = self.mask_of(index).copy()
            if erase:
                mask[covered & (mask == object_id)] = 0
            else:
                mask[covered] = object_id
            self._annotate(index, mask)
            return {"area": int((mask == object_id).sum())}

    def upload_mask(self, index: int, saved: Path) -> None:
        """Take an uploaded mask file as the annotation of frame ``index``; ids not yet
        objects become objects. A mask of another size is refused."""
        try:
            with self.lock:
                self._frame(index)
                size = self._video().size
            try:
                mask = read_mask(saved, expected_size=size)
            except MaskError as e:
                raise type(e)(f"mask for frame {index}", e.problem) from None
            except Image.DecompressionBombError:
                raise MaskError(
                    f"mask for frame {index}",
                    f"more than Pillow's limit of {Image.MAX_IMAGE_PIXELS} pixels",
                ) from None
            with self.lock:
                self._require_idle()
                for object_id in np.unique(mask):
                    if 0 < object_id <= MAX_OBJECTS and int(object_id) not in self.objects:
                        self.objects[int(object_id)] = f"object {object_id}"
                self._annotate(index, mask.copy())
        finally:
            remove(saved)

    def clear_annotation(self, index: int) -> None:
        """Forget frame ``index``'s annotation (its propagated mask shows again)."""
        with self.lock:
            self._frame(index)
            self.annotations.pop(index, None)
            self.revisions[index] = self.revisions.get(index, 0) + 1

    # -- objects --------------------------------------------------------------------------

    def add_object(self, name: str | None = None) -> int:
        """A new object with the smallest free id (1..254); returns its id."""
        with self.lock:
            self._video()
            free = [i for i in range(1, MAX_OBJECTS + 1) if i not in self.objects]
            if not free:
                raise InputError(None, f"at most {MAX_OBJECTS} objects")
            object_id = free[0]
            self.objects[object_id] = (name or "").strip()[:60] or f"object {object_id}"
            return object_id

    def rename_object(self, object_id: int, name: str) -> None:
        with self.lock:
            self._object(object_id)
            self.objects[object_id] = name.strip()[:60] or f"object {object_id}"

    def remove_object(self, object_id: int) -> None:
        """Delete ``object_id`` and erase it from every annotated and propagated frame."""
        with self.lock:
            self._require_idle()
            self._object(object_id)
            del self.objects[object_id]
            for store in (self.annotations, self.results):
                for index in list(store):
                    mask = store[index]
                    if (mask == object_id).any():
                        mask[mask == object_id] = 0
                        store[index] = mask
                        self.revisions[index] = self.revisions.get(index, 0) + 1

    # -- jobs -----------------------------------------------------------------------------

    def _start(self, job: Job) -> Job:
        with self.lock:
            self._require_idle()
            self.job = job
        return self.workers.submit(job)

    def cancel(self) -> None:
        with self.lock:
            if self.job is not None:
                self.job.cancel()

    def _snapshot(self) -> tuple[Path, int, dict[int, np.ndarray], dict[int, str]]:
        source = self._video()
        annotations = {i: m.copy() for i, m in self.annotations.items()}
        if not any((m != 0).any() for m in annotations.values()):
            raise InputError(None, "nothing to propagate: mark an object on a frame first")
        return source.path, self.generation, annotations, dict(self.objects)

    def propagate(self, index: int, direction: str) -> Job:
        """Propagate every annotation from frame ``index`` to the end (``forward``) or to
        the start (``backward``), in the background."""
        if direction not in ("forward", "backward"):
            raise InputError(None, f"direction must be forward or backward, not {direction!r}")
        with self.lock:
            self._frame(index)
            path, generation, annotations, names = self._snapshot()
            n = len(self._video())
        backward = direction == "backward"
        total = index + 1 if backward else n - index

        def work(job: Job) -> dict[str, Any]:
            propagator = self.models.propagator
            source: FrameSource = open_source(path)
            try:
                start, given = index, annotations
                if backward:
                    source = ReversedSource(source)
                    start = source.flip(index)
                    given = {source.flip(i): m for i, m in annotations.items()}
                session = Session(source, propagator=propagator)
                for i, mask in sorted(given.items()):
                    session.add_annotation(i, mask, names=names)
                for i, result in session.propagate(start=start):
                    original = source.flip(i) if backward else i
                    with self.lock:
                        if generation != self.generation:
                            raise InputError(None, "the video changed; propagation stopped")
                        self.results[original] = result.mask
                        self.revisions[original] = self.revisions.get(original, 0) + 1
                    job.advance()
            finally:
                source.close()
            return {"frames": job.done, "direction": direction}

        return self._start(Job(f"propagate {direction}", total, work))

    def suggest(self, k: int) -> Job:
        """Suggest ``k`` frames to annotate next (XMem++ diversity selection), in the
        background; the result is also kept for the timeline."""
        if not 1 <= k <= 100:
            raise InputError(None, f"k must be in 1..100, got {k}")
        with self.lock:
            path, generation, annotations, _ = self._snapshot()
            n = len(self._video())
            masks = MaskView(n, self.annotations, self.results)

        def work(job: Job) -> dict[str, Any]:
            propagator = self.models.propagator
            with open_source(path) as source:

                def frames():
                    for _, image in source.frames():
                        yield image
                        job.advance()

                picked = suggest_frames(propagator, frames(), masks, sorted(annotations), k=k)
            with self.lock:
                if generation == self.generation:
                    self.suggested = picked
            return {"frames": picked}

        return self._start(Job("suggest", n, work))

    def export(self, kind: str) -> Job:
        """Write ``masks`` (zip of palette PNGs), ``overlay`` (mp4) or ``ytvis`` (JSON) into
        the session's export folder, in the background."""
        if kind not in EXPORT_KINDS:
            raise InputError(None, f"export kind must be one of {', '.join(EXPORT_KINDS)}")
        with self.lock:
            source = self._video()
            path, names, size = source.path, source.names, source.size
            masks = MaskView(len(source), self.annotations, self.results)
            objects = sorted(self.objects.items())
            label = self.video_label
        stem = safe_name(Path(label).stem or path.stem or path.name, "video")
        out_dir = self.folder / "exports"
        target = out_dir / f"{stem}{EXPORT_FILES[kind]}"
        problem = self.quota_problem(1)
        if problem is not None:
            raise InputError(None, f"cannot export: {problem}")

        def advance() -> None:
            job.advance()
            if job.done % QUOTA_CHECK_EVERY == 0:
                self._check_quota()

        def work(job: Job) -> dict[str, Any]:
            out_dir.mkdir(parents=True, exist_ok=True)
            # one file per kind: the export replaces the last one of its kind
            for old in out_dir.glob(f"*{EXPORT_FILES[kind]}"):
                remove(old)
            if kind == "masks":
                write_mask_zip(target, names, masks.__getitem__, advance)
            elif kind == "overlay":
                with open_source(path) as frames:
                    write_overlay_video(
                        target, frames.frames(), size, masks.__getitem__, self.config.fps, advance
                    )
            else:
                data = youtube_vis(
                    names, size, objects, masks.__getitem__, job.advance, video_name=stem
                )
                write_youtube_vis(target, data, room=self.room())
            self._check_quota(target)
            return {"file": target.name, "url": f"/api/download/{target.name}"}

        job = Job(f"export {kind}", len(names), work)
        return self._start(job)

    def _check_quota(self, written: Path | None = None) -> None:
        """Stop an export that took the session past its disk quota (removing ``written``)."""
        if self.disk_bytes() <= self.config.max_session_bytes:
            return
        if written is not None:
            remove(written)
        quota = self.config.max_session_bytes
        raise InputError(None, f"the export passes this session's disk quota of {size_text(quota)}")

    def export_file(self, name: str) -> Path:
        """The exported file called ``name``, only from this session's export folder."""
        path = self.folder / "exports" / safe_name(name)
        if path.name != name or not path.is_file():
            raise InputError(name, "no such export")
        return path

    # -- views ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            video = None
            if self.source is not None:
                h, w = self.source.size
                video = {
                    "label": self.video_label,
                    "generation": self.generation,
                    "frames": len(self.source),
                    "width": w,
                    "height": h,
                    "names": list(self.source.names),
                }
            return {
                # snapshots are numbered in the order they are taken, so a page can drop a
                # response that overtook a newer one on the way
                "serial": next(_SERIALS),
                "boot": _BOOT,
                "video": video,
                "objects": [
                    {"id": i, "name": n, "color": _hex(DAVIS_COLORS[i])}
                    for i, n in sorted(self.objects.items())
                ],
                "annotated": sorted(self.annotations),
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
            if self.source is not None:
                self.source.close()
                self.source = None
            self.upload = None
            self.generation += 1
        if job is not None and job.state == "running" and not job.wait(JOB_STOP_S):
            log.warning("the %s job did not stop within %g s", job.kind, JOB_STOP_S)
        remove_tree(self.folder)


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)
