"""Cutie's inference core: the per-video loop state behind :class:`~vosam.engines.base.Tracker`.

Per frame, as in Cutie's evaluation: encode the image; unless the frame is fully
annotated, read every object group's memory, fuse it with the sensory memory and the
previous frame's probabilities, refine it with the object transformer and decode all
objects together (soft aggregation); the decoder refreshes the sensory memory on the
``stagger_updates`` frames after a memory frame. On annotated frames and every
``mem_every`` frames the output probabilities are encoded into memory (values, object
summaries, a deep sensory update). See :mod:`vosam.engines.cutie.memory` for the memory.

XMem++: frames given to :meth:`CutieTracker.add_permanent` are encoded before propagation
with values for every object known by then, written into every group's permanent memory,
and written again whenever objects are added. Stepping over such a frame with its
annotation refreshes the sensory memory but writes no duplicate memory frame.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np
import torch

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.base import StepResult, Tracker, check_pair, confidence_of, onehot
from vosam.engines.cutie.config import CutieConfig
from vosam.engines.cutie.memory import GroupedMemory, MemoryFrame
from vosam.engines.cutie.network import CutieNetwork, ImageFeatures
from vosam.engines.cutie.preprocess import (
    Geometry,
    geometry,
    prepare_image,
    prepare_masks,
    restore,
)
from vosam.engines.slots import ObjectSlots

log = logging.getLogger(__name__)


@dataclass
class _Frame:
    """A frame's network input and features (batch axis kept, size 1)."""

    index: int
    geo: Geometry
    image: torch.Tensor  # (1, 3, h', w') normalised
    features: ImageFeatures

    def trimmed(self) -> _Frame:
        """Without the skip features (kept frames are only encoded into memory)."""
        f = self.features
        lean = ImageFeatures(f.pix_feat, None, None, f.key, f.shrinkage, f.selection)
        return _Frame(self.index, self.geo, self.image, lean)


@dataclass
class _Kept:
    """An annotated frame kept in permanent memory."""

    frame: _Frame
    mask: np.ndarray  # uint8 (H, W) user ids


class CutieTracker(Tracker):
    """Per-video state of the Cutie engine. Made by :meth:`CutiePropagator.new_tracker`."""

    def __init__(self, network: CutieNetwork, config: CutieConfig, device: torch.device) -> None:
        self.net = network
        self.config = config
        self.device = device
        self.memory = GroupedMemory(config.memory())
        self._slots = ObjectSlots("entry")  # tensors grow at the end, as Cutie's
        self._sensory: dict[int, torch.Tensor] = {}  # id -> (1, C_s, h, w)
        self._last_mask: torch.Tensor | None = None  # (1, n, h', w') previous output
        self._steps = config.sensory_steps
        self._ti = -1
        self._last_mem = 0
        self._kept: dict[int, _Kept] = {}
        self._permanent_mode = False  # add_permanent was used (XMem++)
        self._stale = False  # permanent memory must be written again
        self._last: _Frame | None = None
        self._stepped: int | None = None  # index of the last frame stepped

    # ---- Tracker interface -------------------------------------------------------------

    @property
    def object_ids(self) -> tuple[int, ...]:
        return self._slots.sorted_ids

    def add_permanent(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        check_pair(image, mask)
        self._permanent_mode = True
        self._slots.add_from(mask)
        with self._autocast(), torch.inference_mode():
            self._kept[index] = _Kept(self._encode(index, image).trimmed(), mask.copy())
        self._stale = True

    def step(
        self, index: int, image: np.ndarray, *, annotation: np.ndarray | None = None
    ) -> StepResult:
        if annotation is not None:
            check_pair(image, annotation)
        with self._autocast(), torch.inference_mode():
            return self._step(index, image, annotation)

    def feedback(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        check_pair(image, mask)
        self._slots.add_from(mask)
        with self._autocast(), torch.inference_mode():
            self._sync_permanent()
            frame = self._frame(index, image)
            prob = soft_aggregate(self._padded_onehot(mask, frame.geo), dim=0)
            self.memory.pop(index)
            self._memorize(frame, prob[1:], deep=False)
            if index == self._stepped:  # the next frame's "previous mask"
                self._last_mask = prob[1:][None]

    def remove_object(self, object_id: int) -> None:
        slot = self._slots.remove(object_id)
        self.memory.remove(object_id)
        self._sensory.pop(object_id, None)
        last = self._last_mask
        if last is not None and slot < last.shape[1]:
            self._last_mask = torch.cat([last[:, :slot], last[:, slot + 1 :]], 1)

    # ---- the loop body -----------------------------------------------------------------

    def _step(self, index: int, image: np.ndarray, annotation: np.ndarray | None) -> StepResult:
        cfg = self.config
        if annotation is not None:
            self._slots.add_from(annotation)
            if self._permanent_mode and index not in self._kept:
                self._kept[index] = _Kept(self._frame(index, image).trimmed(), annotation.copy())
                self._stale = True
        if not self._slots:
            return self._background(image.shape[:2])
        self._sync_permanent()
        if self.memory.empty and annotation is None:
            return self._background(image.shape[:2])

        self._ti += 1
        since = self._ti - self._last_mem
        is_mem = annotation is not None or since >= cfg.mem_every
        n = self._with_memory()
        absent = (
            annotation is not None
            and cfg.partial_annotations
            and bool(set(self._slots.ids[:n]) - set(np.unique(annotation).tolist()))
        )
        frame = self._frame(index, image)
        prob: torch.Tensor | None = None
        if not self.memory.empty and (annotation is None or absent):
            prob = self._predict(frame, update_sensory=since in self._steps)
        if annotation is not None:
            masks = self._padded_onehot(annotation, frame.geo)
            if prob is not None:
                fg = prob[1:]
                fg[:, masks.sum(0) > 0.5] = 0
                present = set(np.unique(annotation).tolist())
                for slot in range(fg.shape[0]):
                    if self._slots.ids[slot] not in present:
                        masks[slot] = fg[slot]
            prob = soft_aggregate(masks, dim=0)
        self._last_mask = prob[1:][None]
        self._stepped = index

        if is_mem:
            if annotation is not None and self._permanent_mode and index in self._kept:
                self._deep_update(frame, prob[1:])
            else:
                self._memorize(frame, prob[1:], deep=True)
            self._last_mem = self._ti

        if annotation is not None and not absent:  # the frame's whole ground truth
            probs = onehot(annotation, self.object_ids)
        else:
            probs = self._to_ids(restore(prob.float(), frame.geo))
        return StepResult(probs, self.object_ids, confidence_of(probs))

    def _predict(self, frame: _Frame, *, update_sensory: bool) -> torch.Tensor:
        """Probabilities ``(n + 1, h', w')`` of the ``n`` objects that have memory."""
        f = frame.features
        key, selection = f.key.flatten(2)[0], f.selection.flatten(2)[0]
        h, w = f.key.shape[-2:]
        pixels: dict[int, torch.Tensor] = {}
        for group, readout in self.memory.read(key, selection):
            ids = group.ids
            refined = self.net.read_objects(
                f.pix_feat,
                readout.view(1, len(ids), -1, h, w).to(f.pix_feat.dtype),
                self._sensory_of(ids, f.key),
                self._previous([self._slots.slot(i) for i in ids], frame),
                self.memory.summaries(ids)[None],
            )
            for k, i in enumerate(ids):
                pixels[i] = refined[:, k]
        ids = self._slots.ids[: self._with_memory()]
        sensory, prob = self.net.segment(
            f,
            torch.stack([pixels[i] for i in ids], 1),
            self._sensory_of(ids, f.key),
            update_sensory=update_sensory,
        )
        if update_sensory:
            self._store_sensory(ids, sensory)
        return prob[0]

    def _memorize(self, frame: _Frame, masks: torch.Tensor, *, deep: bool) -> None:
        """Encode ``masks (O, h', w')`` (every object, slot order) into memory."""
        ids = self._slots.ids[: masks.shape[0]]
        f = frame.features
        values, sensory, summaries = self.net.encode_mask(
            frame.image,
            f.pix_feat,
            self._sensory_of(ids, f.key),
            masks[None].to(frame.image.dtype),
            deep_update=deep,
        )
        self.memory.write(
            MemoryFrame(
                ids,
                f.key.flatten(2)[0],
                f.shrinkage.flatten(2)[0],
                f.selection.flatten(2)[0] if self.config.long_term else None,
                values[0].flatten(2),
                summaries[0],
                frame.index,
            )
        )
        if deep:
            self._store_sensory(ids, sensory)

    def _deep_update(self, frame: _Frame, masks: torch.Tensor) -> None:
        """Refresh the sensory memory from ``masks (O, h', w')`` without writing memory."""
        ids = self._slots.ids[: masks.shape[0]]
        f = frame.features
        _, sensory, _ = self.net.encode_mask(
            frame.image,
            f.pix_feat,
            self._sensory_of(ids, f.key),
            masks[None].to(frame.image.dtype),
            deep_update=True,
        )
        self._store_sensory(ids, sensory)

    def _sync_permanent(self) -> None:
        """Write the kept annotated frames again if they or the objects changed (XMem++)."""
        if not self._permanent_mode or not self._stale:
            return
        ids = self._slots.ids
        frames = []
        for index in sorted(self._kept):
            kept = self._kept[index]
            f = kept.frame.features
            prob = soft_aggregate(self._padded_onehot(kept.mask, kept.frame.geo), dim=0)
            values, _, summaries = self.net.encode_mask(
                kept.frame.image,
                f.pix_feat,
                self._sensory_of(ids, f.key),
                prob[1:][None],
                deep_update=False,
            )
            selection = f.selection.flatten(2)[0] if self.config.long_term else None
            frames.append(
                MemoryFrame(
                    ids,
                    f.key.flatten(2)[0],
                    f.shrinkage.flatten(2)[0],
                    selection,
                    values[0].flatten(2),
                    summaries[0],
                    index,
                )
            )
        self.memory.set_permanent(ids, frames)
        self._stale = False
        log.debug("permanent memory: %d frames, %d objects", len(frames), len(ids))

    # ---- helpers ------------------------------------------------------------------------

    def _encode(self, index: int, image: np.ndarray) -> _Frame:
        cfg = self.config
        geo = geometry(*image.shape[:2], cfg.size, max_long_side=cfg.max_long_side)
        x = prepare_image(image, geo, device=self.device, antialias=cfg.antialias)
        return _Frame(index, geo, x, self.net.encode_image(x))

    def _frame(self, index: int, image: np.ndarray) -> _Frame:
        """Features of frame ``index``, reused when it was the last one encoded."""
        last = self._last
        if last is not None and last.index == index and last.geo.size == image.shape[:2]:
            return last
        self._last = self._encode(index, image)
        return self._last

    def _with_memory(self) -> int:
        """Number of leading object slots that belong to a memory group."""
        grouped = self.memory.object_ids
        n = 0
        while n < len(self._slots) and self._slots.ids[n] in grouped:
            n += 1
        return n

    def _sensory_of(self, ids: tuple[int, ...] | list[int], like: torch.Tensor) -> torch.Tensor:
        """Sensory memory ``(1, n, C_s, h, w)`` of ``ids`` (zeros for objects without)."""
        c = self.net.arch.sensory_dim
        zeros = like.new_zeros(1, c, *like.shape[-2:])
        return torch.stack([self._sensory.get(i, zeros) for i in ids], 1)

    def _store_sensory(self, ids: tuple[int, ...], sensory: torch.Tensor) -> None:
        for k, i in enumerate(ids):
            self._sensory[i] = sensory[:, k]

    def _previous(self, slots: list[int], frame: _Frame) -> torch.Tensor:
        """The previous output's probabilities ``(1, n, h', w')`` of ``slots`` (zeros where
        there is none, e.g. before any frame was stepped)."""
        last = self._last_mask
        size = frame.image.shape[-2:]
        rows = []
        for slot in slots:
            if last is not None and slot < last.shape[1] and last.shape[-2:] == size:
                rows.append(last[0, slot])
            else:
                rows.append(frame.image.new_zeros(size))
        return torch.stack(rows)[None].to(frame.image.dtype)

    def _padded_onehot(self, mask: np.ndarray, geo: Geometry) -> torch.Tensor:
        """``float (O, h', w')`` one-hot of ``mask`` over the object slots."""
        hot = onehot(mask, self._slots.ids)[1:]
        return prepare_masks(torch.from_numpy(hot).to(self.device), geo)

    def _to_ids(self, prob: torch.Tensor) -> np.ndarray:
        """Slot-ordered ``(1 + n, H, W)`` -> id-ordered ``float32 (1 + O, H, W)`` numpy."""
        out = prob.new_zeros(1 + len(self._slots), *prob.shape[1:])
        out[0] = prob[0]
        for pos, slot in enumerate(self._slots.by_id()):
            if slot + 1 < prob.shape[0]:
                out[pos + 1] = prob[slot + 1]
        return out.cpu().numpy().astype(np.float32, copy=False)

    def _background(self, size: tuple[int, int]) -> StepResult:
        probs = np.zeros((1 + len(self._slots), *size), dtype=np.float32)
        probs[0] = 1
        return StepResult(probs, self.object_ids, confidence_of(probs))

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.config.amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()
