"""Clicks and boxes: the promptable segmenter answers them, and the object's pixels on the
frame are replaced by the answer, which annotates or corrects the frame.

Each session keeps the embeddings of the last frames clicked (:class:`Embeddings`), embeds
the shown frame ahead of its first click, and answers prompts one at a time, in the order
they arrive. Embeddings are keyed by ``(generation, frame index)``: opening another video
starts a new generation (:meth:`Embeddings.reset`), and an embedding of an older one is
never used.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np

from vosam.app import fields
from vosam.app.models import Models
from vosam.errors import InputError
from vosam.refine import ImageEmbedding, Prediction, Prompt

if TYPE_CHECKING:
    from vosam.app.state import AppSession

log = logging.getLogger(__name__)

KEPT = 2  # frames whose embedding is kept for further clicks

Key = tuple[int, int]  # (generation, frame index)


class Embeddings:
    """Embeddings of one session's frames, made by ``models.segmenter``."""

    def __init__(self, models: Models) -> None:
        self.models = models
        self._lock = threading.Lock()
        self._generation = 0
        self._kept: OrderedDict[Key, ImageEmbedding] = OrderedDict()
        self._ahead: tuple[Key, Future[ImageEmbedding]] | None = None
        self._segmenting = threading.Lock()

    def reset(self, generation: int) -> None:
        """A new video (``generation``) is open: forget every embedding."""
        with self._lock:
            self._generation = generation
            self._kept.clear()

    def predict(self, key: Key, image: np.ndarray, prompt: Prompt) -> Prediction:
        """The segmenter's answer to ``prompt`` on ``image`` (frame ``key``), embedding the
        frame unless it is kept or being embedded ahead. One prompt at a time."""
        with self._segmenting:
            return self.models.segmenter.predict(self._embedding(key, image), prompt)

    def _embedding(self, key: Key, image: np.ndarray) -> ImageEmbedding:
        with self._lock:
            embedding = self._kept.get(key)
            ahead = self._ahead if self._ahead is not None and self._ahead[0] == key else None
        if embedding is not None:
            return embedding
        if ahead is not None:
            try:
                return ahead[1].result()
            except Exception:
                log.debug("embedding ahead of the click failed; embedding again")
        embedding = self.models.segmenter.embed(image)
        self._keep(key, embedding)
        return embedding

    def _keep(self, key: Key, embedding: ImageEmbedding) -> None:
        with self._lock:
            if key[0] != self._generation:
                return
            self._kept[key] = embedding
            self._kept.move_to_end(key)
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)

    def ahead(self, key: Key, read: Callable[[], np.ndarray]) -> bool:
        """Embed frame ``key`` (its pixels from ``read()``) on a background thread, so that
        the first click on it need not wait. Skipped (False) while another frame is being
        embedded ahead or when this one is kept already; a click on another frame never
        waits for it."""
        with self._lock:
            busy = self._ahead is not None and not self._ahead[1].done()
            if busy or key in self._kept:
                return False
            future: Future[ImageEmbedding] = Future()
            self._ahead = (key, future)

        def work() -> None:
            try:
                embedding = self.models.segmenter.embed(read())
            except Exception as e:  # the click that follows reports any problem
                log.debug("embedding frame %d ahead of a click failed", key[1], exc_info=True)
                future.set_exception(e)
                return
            self._keep(key, embedding)
            future.set_result(embedding)

        threading.Thread(target=work, name="vosam-app-embed", daemon=True).start()
        return True


def prompt(
    app: AppSession,
    index: int,
    object_id: int | None,
    *,
    points: list[tuple[float, float]] | None = None,
    labels: list[int] | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> dict[str, Any]:
    """Segment ``object_id`` (a new object when None) on frame ``index`` from clicks
    ``(x, y)`` with labels 1 (positive) / 0 (negative) and/or a box ``(x0, y0, x1, y1)``;
    the object's pixels on the frame are replaced by the prediction, which annotates or
    corrects the frame (see :meth:`~vosam.app.state.AppSession.edit`).

    Raises:
        InputError: no clicks and no box, labels not 0/1 or not one per click, or a
            position off the frame.
    """
    points, labels = list(points or []), list(labels or [])
    if not points and box is None:
        raise InputError(None, "bad prompt: give clicks ('points' and 'labels') or a 'box'")
    if len(labels) != len(points) or any(label not in (0, 1) for label in labels):
        raise InputError(None, "bad prompt: give one label, 1 or 0, per click")
    with app.lock:
        app.check_frame(index)
        if object_id is not None:
            app.check_object(object_id)
        app.require_editable()
        size = app.video().size
        fields.on_frame("points", points, size)
        if box is not None:
            fields.on_frame("box", [box[:2], box[2:]], size)
        generation = app.generation
        image = app.read(index)
    given = Prompt(
        box=None if box is None else np.asarray(box, np.float32),
        points=np.asarray(points, np.float32).reshape(-1, 2) if points else None,
        labels=np.asarray(labels, np.int32) if points else None,
    )
    prediction = app.embeddings.predict((generation, index), image, given)

    def replace(mask: np.ndarray, oid: int) -> np.ndarray:
        mask[mask == oid] = 0
        mask[prediction.mask] = oid
        return mask

    what = "click" if points else "box"
    record = {
        "points": [list(p) for p in points],
        "labels": labels,
        "box": None if box is None else list(box),
    }
    with app.lock:
        if generation != app.generation:
            raise InputError(None, "the video changed while segmenting; click again")
        label = f"{what} on frame {index + 1}"
        object_id, _ = app.edit(index, object_id, label, replace, prompt=record)
    return {
        "object": object_id,
        "score": float(prediction.score),
        "area": int(prediction.mask.sum()),
    }


def prefetch(app: AppSession, index: int) -> bool:
    """Embed frame ``index`` for clicks in the background, so that the first click on it
    need not wait; skipped (False) while a job runs (see :meth:`Embeddings.ahead`)."""
    with app.lock:
        app.check_frame(index)
        if app.job is not None and app.job.active:
            return False
        generation = app.generation

    def read() -> np.ndarray:
        with app.lock:
            if generation != app.generation:
                raise InputError(None, "the video changed")
            return app.read(index)

    return app.embeddings.ahead((generation, index), read)
