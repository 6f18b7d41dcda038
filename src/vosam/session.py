"""One video's segmentation session: frames, objects, annotations, and propagation.

A :class:`Session` owns every piece of per-video state; the propagator (the loaded model) is
shared and can serve several sessions. Typical use::

    from vosam import Session
    with Session("video.mp4") as session:
        session.add_annotation(0, first_mask)
        for index, result in session.propagate():
            save(session.names[index], result.mask)

:meth:`Session.run` plays the frames in any :class:`~vosam.playback.Order` (forward,
backward, the ×3 protocol of Long-time Video) and yields :class:`~vosam.playback.Step`
items; :meth:`Session.propagate` is its forward or backward form.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from vosam.engines import Propagator, StepResult, Tracker, build_propagator
from vosam.engines.base import confidence_of, onehot
from vosam.errors import InputError, MaskSizeError
from vosam.io import FrameSource, open_source
from vosam.objects import MAX_OBJECT_ID, ObjectRegistry
from vosam.playback import Order, Step
from vosam.prompt_masks import merge_annotation, prompt_problem, segment_prompts
from vosam.refine.base import PromptableSegmenter
from vosam.refine.refiner import Refiner, RefineState
from vosam.types import Prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionConfig:
    """How a session propagates.

    Attributes:
        permanent_memory: encode every annotated frame before propagating and keep it for the
            whole video (XMem++). False uses only the annotations reached so far.
        objects_from_first_annotation: an object is absent before the first frame that
            annotates it (YouTube-VOS semantics); False lets permanent memory find it earlier.
    """

    permanent_memory: bool = True
    objects_from_first_annotation: bool = True


class Session:
    """Per-video state: the frame source, the objects and the annotated frames.

    Args:
        source: a :class:`~vosam.io.FrameSource` or a path (frame folder or video file).
        propagator: the engine; the embedded one is built when omitted.
        model: instead of ``propagator``, a named model of :mod:`vosam.models` (``xmem``,
            ``sam2.1-hiera-tiny``...) whose engine is built for this session (fetched
            into the cache the first time).
        config: propagation options.
        refiner: refines every propagated frame (see :mod:`vosam.refine.refiner`); its
            accepted masks are fed back to the tracker when its config says so.
        segmenter: turns click/box prompts into masks for engines that do not take prompts
            (see :meth:`add_prompt`); the embedded segmenter is built when needed.
    """

    def __init__(
        self,
        source: FrameSource | str | Path,
        *,
        propagator: Propagator | None = None,
        config: SessionConfig | None = None,
        refiner: Refiner | None = None,
        segmenter: PromptableSegmenter | None = None,
        model: str | None = None,
    ) -> None:
        if model is not None and propagator is not None:
            raise ValueError("give a propagator or a model name, not both")
        self.refiner = refiner
        self.refine_state: RefineState | None = None
        self.source = source if isinstance(source, FrameSource) else open_source(source)
        if propagator is None:
            propagator = build_propagator(model=model) if model else build_propagator("embedded")
        self.propagator = propagator
        self.config = config or SessionConfig()
        self.objects = ObjectRegistry()
        self._annotations: dict[int, np.ndarray] = {}
        self._partial: set[int] = set()  # frames whose annotation draws only some objects
        self._prompts: dict[int, dict[int, Prompt]] = {}
        self.segmenter = segmenter
        self._prompt_masks: dict[int, np.ndarray] = {}

    # -- frames -------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Frame names (file stems), index-aligned with the video."""
        return self.source.names

    def __len__(self) -> int:
        return len(self.source)

    @property
    def size(self) -> tuple[int, int]:
        """Frame size ``(H, W)``."""
        return self.source.size

    # -- objects and annotations --------------------------------------------------------

    @property
    def annotations(self) -> dict[int, np.ndarray]:
        """Annotated frames: index → ``uint8 (H, W)`` mask (read-only copies)."""
        return {i: m.copy() for i, m in sorted(self._annotations.items())}

    def add_annotation(
        self,
        index: int,
        mask: np.ndarray,
        *,
        names: dict[int, str] | None = None,
        partial: bool = False,
    ) -> None:
        """Set the ground-truth mask ``uint8 (H, W)`` of frame ``index``.

        Ids in the mask become objects (255 is void and ignored). Replaces an earlier
        annotation of the same frame. ``partial=True``: the mask draws only some objects
        (those appearing there, as YouTube-VOS and LVOS give them); the others keep their
        prediction on that frame, and the mask is not put in permanent memory.
        """
        if not 0 <= index < len(self.source):
            raise InputError(
                self.source.path, f"frame {index} is not in the video ({len(self.source)} frames)"
            )
        mask = np.asarray(mask)
        if mask.shape != self.size:
            h, w = mask.shape[:2]
            raise MaskSizeError(
                None,
                f"annotation of frame {self.names[index]} is {w}×{h} "
                f"but frames are {self.size[1]}×{self.size[0]}",
            )
        mask = mask.astype(np.uint8)
        for object_id in np.unique(mask):
            if 0 < object_id <= MAX_OBJECT_ID:
                self.objects.add(int(object_id), (names or {}).get(int(object_id)))
        self._annotations[index] = mask
        if partial:
            self._partial.add(index)
        else:
            self._partial.discard(index)

    def remove_annotation(self, index: int) -> None:
        del self._annotations[index]
        self._partial.discard(index)

    def add_prompt(self, index: int, object_id: int, prompt: Prompt) -> None:
        """Give object ``object_id`` a click/box prompt on frame ``index``.

        The frame becomes a conditioning frame of that object, like an annotation of it
        alone; a new id becomes an object. Replaces an earlier prompt of the same object on
        that frame. Engines that take prompts (``Tracker.takes_prompts``: sam2) segment
        them; for the others the session's :attr:`segmenter` turns each frame's prompts into
        a mask that joins that frame's annotation (see :mod:`vosam.prompt_masks`). The masks
        made are in :attr:`prompt_masks` once propagation has started.

        Raises:
            InputError: the frame is not in the video, or the box or a click lies outside
                the frame or the box has zero area.
            ValueError: ``object_id`` is not in 1..254.
        """
        if not 0 <= index < len(self.source):
            raise InputError(
                self.source.path, f"frame {index} is not in the video ({len(self.source)} frames)"
            )
        if not 0 < object_id <= MAX_OBJECT_ID:
            raise ValueError(f"object ids are 1..{MAX_OBJECT_ID}, got {object_id}")
        problem = prompt_problem(prompt, self.size)
        if problem is not None:
            raise InputError(
                self.source.path, f"prompt of object {object_id} on frame {index}: {problem}"
            )
        self.objects.add(object_id)
        self._prompts.setdefault(index, {})[object_id] = prompt
        self._prompt_masks.pop(index, None)

    @property
    def prompts(self) -> dict[int, dict[int, Prompt]]:
        """Prompted frames: index → object id → :class:`~vosam.refine.base.Prompt`."""
        return {i: dict(p) for i, p in sorted(self._prompts.items())}

    @property
    def prompt_masks(self) -> dict[int, np.ndarray]:
        """The masks made from prompts: frame index → ``uint8 (H, W)`` ids of the objects
        prompted there (0 elsewhere). Filled when propagation starts: by the segmenter, or
        by the engine for engines that take prompts (its probability >= 0.5)."""
        return {i: m.copy() for i, m in sorted(self._prompt_masks.items())}

    def remove_object(self, object_id: int) -> None:
        """Forget ``object_id``: removed from the registry and erased from every annotation."""
        self.objects.remove(object_id)
        for mask in self._annotations.values():
            mask[mask == object_id] = 0
        for prompts in self._prompts.values():
            prompts.pop(object_id, None)
        self._prompt_masks.clear()

    def first_annotated(self) -> dict[int, int]:
        """Object id → index of the first frame whose annotation or prompts contain it."""
        return {oid: min(at) for oid, at in sorted(self._annotated_at().items())}

    # -- propagation --------------------------------------------------------------------

    def propagate(
        self, *, start: int = 0, stop: int | None = None, reverse: bool = False
    ) -> Iterator[tuple[int, StepResult]]:
        """Segment frames ``start..stop-1`` in order, yielding ``(index, StepResult)``.

        ``reverse=True`` goes from ``stop - 1`` down to ``start``. See :meth:`run`.
        """
        order = Order.BACKWARD if reverse else Order.FORWARD
        for step in self.run(order=order, start=start, stop=stop):
            yield step.index, step.result

    def propagate_frames(
        self, *, start: int = 0, stop: int | None = None, reverse: bool = False
    ) -> Iterator[tuple[int, np.ndarray, StepResult]]:
        """Like :meth:`propagate`, also yielding each decoded frame ``uint8 (H, W, 3)``."""
        order = Order.BACKWARD if reverse else Order.FORWARD
        for step in self.run(order=order, start=start, stop=stop):
            yield step.index, step.image, step.result

    def run(
        self, *, order: Order = Order.FORWARD, start: int = 0, stop: int | None = None
    ) -> Iterator[Step]:
        """Play frames ``start..stop-1`` in ``order``, yielding a :class:`~vosam.playback.Step`
        for every frame played.

        An annotated frame yields its annotation on its first visit. A partial annotation
        is merged first: the frame is propagated, the annotation's objects are painted over
        the prediction, and the merged mask is what the tracker is given. With permanent
        memory every whole annotation is encoded first (also those outside ``start..stop``),
        so frames played before it benefit too; otherwise frames played before the first
        annotation are empty, as are those played before anything is known about any
        object. With ``objects_from_first_annotation`` an object is absent from the frames
        played before its first annotation in playing order. With a refiner, every
        propagated frame is refined and accepted masks are fed back.

        Raises:
            InputError: no annotation, or no object in any.
            ValueError: ``Order.X3`` with ``start`` or ``stop``.
        """
        if not self._annotations and not self._prompts:
            raise InputError(self.source.path, "no annotation: give at least one annotated frame")
        if not self.objects.ids:
            raise InputError(
                self.source.path,
                "no object to track: every annotated pixel is background (0) or void (255)",
            )
        # a stream's length is not known: forward play reads it until it ends
        plays = [] if order is Order.FORWARD else order.plays(len(self.source), start, stop)
        tracker = self.propagator.new_tracker()
        annotations, partial = self._with_prompt_masks(tracker)
        if self.config.permanent_memory:
            # whole annotations only: a partial one would tell memory the others are absent
            for index, mask in sorted(annotations.items()):
                if index not in partial:
                    tracker.add_permanent(index, self.source.read(index), mask)
        self._give_prompts(tracker)
        given = [*annotations, *self._prompts]
        first_rank = min(order.rank(i) for i in given)
        born = {oid: min(order.rank(i) for i in at) for oid, at in self._annotated_at().items()}
        ids = self.objects.ids
        refiner = self.refiner
        if refiner is not None:
            self.refine_state = refiner.new_state()
        for step, index, image in self._played(plays, order, start, stop):
            # a frame's first visit is the step equal to its index (see vosam.playback)
            annotation = annotations.get(index) if step == index else None
            if annotation is None and (
                not tracker.object_ids
                or (not self.config.permanent_memory and order.rank(step) < first_rank)
            ):
                yield Step(step, index, image, _empty_result(self.size, ids))
                continue
            if annotation is not None and index in partial and tracker.object_ids:
                predicted = tracker.step(step, image).mask
                annotation = np.where(annotation > 0, annotation, predicted).astype(np.uint8)
            result = tracker.step(step, image, annotation=annotation)
            if self.config.objects_from_first_annotation:
                unborn = {oid for oid, rank in born.items() if rank > order.rank(step)}
                result = _hide(result, unborn)
            if refiner is not None:
                result = self._refine(
                    tracker, step, image, result, annotated=annotation is not None
                )
            yield Step(step, index, image, _with_all_objects(result, ids))

    def _annotated_at(self) -> dict[int, list[int]]:
        """Object id → the frames whose annotation or prompts contain it."""
        at: dict[int, list[int]] = {}
        for index, mask in self._annotations.items():
            for object_id in np.unique(mask):
                if 0 < object_id <= MAX_OBJECT_ID:
                    at.setdefault(int(object_id), []).append(index)
        for index, prompts in self._prompts.items():
            for object_id in prompts:
                at.setdefault(object_id, []).append(index)
        return at

    def _refine(
        self,
        tracker: Tracker,
        step: int,
        image: np.ndarray,
        result: StepResult,
        *,
        annotated: bool,
    ) -> StepResult:
        """Refine one propagated frame and feed accepted masks back to the tracker."""
        state = self.refine_state
        if annotated:
            self.refiner.observe(state, step, result)
            return result
        out = self.refiner.refine(state, step, image, result)
        if out.accepted and self.refiner.config.feedback:
            tracker.feedback(step, image, out.result.mask)
        return out.result

    def _played(
        self, plays: list[tuple[int, int]], order: Order, start: int, stop: int | None
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(step, index, image)`` of the frames played: forward reads the source in
        sequence from ``start`` (to its end when ``stop`` is None), the others ``plays``."""
        if order is Order.FORWARD:
            for index, image in self.source.frames(max(start, 0), stop):
                yield index, index, image
            return
        for step, index in plays:
            yield step, index, self.source.read(index)

    def _with_prompt_masks(self, tracker: Tracker) -> tuple[dict[int, np.ndarray], set[int]]:
        """The annotations to propagate and the frames among them that are partial: the
        added ones, joined by the masks the segmenter makes from the prompts of their frames
        (for trackers that do not take prompts). A frame known only from prompts that leave
        out some of the session's objects is partial: it says nothing about the others."""
        annotations = dict(self._annotations)
        partial = set(self._partial)
        if not self._prompts or tracker.takes_prompts:
            return annotations, partial
        for index, prompts in sorted(self._prompts.items()):
            if not prompts:
                continue
            if index not in self._prompt_masks:
                image = self.source.read(index)
                made = segment_prompts(self._prompt_segmenter(), image, prompts)
                self._prompt_masks[index] = made
            if index not in annotations and set(prompts) != set(self.objects.ids):
                partial.add(index)
            annotations[index] = merge_annotation(
                annotations.get(index), self._prompt_masks[index], tuple(sorted(prompts))
            )
        return annotations, partial

    def _give_prompts(self, tracker: Tracker) -> None:
        """Hand the click/box prompts to a tracker that takes them (``add_prompt``); the
        masks it makes of them (probability >= 0.5) go to :attr:`prompt_masks`."""
        if not self._prompts or not tracker.takes_prompts:
            return
        for index, prompts in sorted(self._prompts.items()):
            if not prompts:
                continue
            image = self.source.read(index)
            probs = {
                oid: tracker.add_prompt(index, image, oid, p) for oid, p in sorted(prompts.items())
            }
            self._prompt_masks[index] = _ids_of_probabilities(probs)

    def _prompt_segmenter(self) -> PromptableSegmenter:
        if self.segmenter is None:
            from vosam.refine import build_segmenter

            self.segmenter = build_segmenter("embedded", device=self.propagator.device)
        return self.segmenter

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ids_of_probabilities(probs: dict[int, np.ndarray]) -> np.ndarray:
    """``uint8 (H, W)`` ids from per-object probabilities ``(H, W)``: each pixel goes to
    the most probable object when that probability is at least 0.5."""
    ids = sorted(probs)
    stack = np.stack([probs[oid] for oid in ids])
    best = stack.argmax(0)
    lut = np.array(ids, np.uint8)
    return np.where(stack.max(0) >= 0.5, lut[best], 0).astype(np.uint8)


def _empty_result(size: tuple[int, int], ids: tuple[int, ...]) -> StepResult:
    probs = onehot(np.zeros(size, np.uint8), ids)
    return StepResult(probs, ids, np.zeros(len(ids), np.float32))


def _hide(result: StepResult, unborn: set[int]) -> StepResult:
    """Zero the objects ``unborn`` (not annotated yet in playing order) and renormalise."""
    hidden = [k for k, oid in enumerate(result.object_ids, 1) if oid in unborn]
    if not hidden:
        return result
    probs = result.probs.copy()
    probs[hidden] = 0
    probs /= np.maximum(probs.sum(0, keepdims=True), 1e-7)
    return StepResult(probs, result.object_ids, confidence_of(probs))


def _with_all_objects(result: StepResult, ids: tuple[int, ...]) -> StepResult:
    """Add zero channels for registered objects the tracker has not seen yet."""
    if result.object_ids == ids:
        return result
    h, w = result.probs.shape[1:]
    probs = np.zeros((len(ids) + 1, h, w), np.float32)
    probs[0] = result.probs[0]
    conf = np.zeros(len(ids), np.float32)
    for k, oid in enumerate(result.object_ids, 1):
        probs[ids.index(oid) + 1] = result.probs[k]
        conf[ids.index(oid)] = result.confidence[k - 1]
    return StepResult(probs, ids, conf)
