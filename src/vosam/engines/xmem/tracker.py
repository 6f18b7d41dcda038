"""XMem's inference core: the per-video loop state behind :class:`~vosam.engines.base.Tracker`.

Per frame, as in XMem's evaluation: encode the key; if memory exists and the frame is not
fully annotated, read memory (top-k over long-term + permanent + working), decode with the
sensory memory and soft-aggregate; every ``mem_every`` frames (and on annotated frames)
encode values and add a working-memory frame, refreshing the sensory memory.

Where XMem keeps its first annotated frame at the head of working memory, never
consolidated, vosam keeps it in permanent memory (see :mod:`vosam.memory.store`).

XMem++: frames given to :meth:`XMemTracker.add_permanent` are encoded before propagation,
with values for every object known by then, and stay in permanent memory. They are written
again whenever the set of objects grows, so each permanent frame holds every object.
Stepping over such a frame with its annotation refreshes the sensory memory but adds no
duplicate working-memory frame.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np
import torch

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.base import StepResult, Tracker, check_pair, confidence_of, onehot
from vosam.engines.slots import ObjectSlots
from vosam.engines.xmem.config import XMemConfig
from vosam.engines.xmem.network import XMemNetwork
from vosam.engines.xmem.preprocess import Geometry, geometry, prepare_image, prepare_masks, restore
from vosam.memory import MemoryStore

log = logging.getLogger(__name__)


@dataclass
class _Frame:
    """A frame's network input and key features (batch axis kept, size 1)."""

    index: int
    geo: Geometry
    image: torch.Tensor  # (1, 3, h', w')
    key: torch.Tensor  # (1, C_k, h, w)
    shrinkage: torch.Tensor  # (1, 1, h, w)
    selection: torch.Tensor  # (1, C_k, h, w)
    features: tuple[torch.Tensor, ...]  # f16, f8, f4


@dataclass
class _Kept:
    """An annotated frame kept in permanent memory."""

    frame: _Frame
    mask: np.ndarray  # uint8 (H, W) user ids


class XMemTracker(Tracker):
    """Per-video state of the XMem engine. Made by :meth:`XMemPropagator.new_tracker`."""

    def __init__(self, network: XMemNetwork, config: XMemConfig, device: torch.device) -> None:
        self.net = network
        self.config = config
        self.device = device
        self.memory = MemoryStore(config.memory())
        self._slots = ObjectSlots("entry")  # memory and hidden state grow at the end
        self._hidden: torch.Tensor | None = None  # (1, O, C_h, h, w)
        self._ti = -1
        self._last_mem = 0
        self._last_deep = -config.deep_update_every
        self._kept: dict[int, _Kept] = {}
        self._permanent_mode = False  # add_permanent was used (XMem++)
        self._kept_objects = 0  # objects the permanent frames were written with
        self._last: _Frame | None = None

    # ---- Tracker interface -------------------------------------------------------------

    @property
    def object_ids(self) -> tuple[int, ...]:
        return self._slots.sorted_ids

    def add_permanent(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        check_pair(image, mask)
        self._permanent_mode = True
        self._register(mask)
        with self._autocast(), torch.inference_mode():
            self._kept[index] = _Kept(_trimmed(self._encode(index, image)), mask.copy())
        self._kept_objects = -1  # write permanent memory again before the next read

    def step(
        self, index: int, image: np.ndarray, *, annotation: np.ndarray | None = None
    ) -> StepResult:
        if annotation is not None:
            check_pair(image, annotation)
        with self._autocast(), torch.inference_mode():
            return self._step(index, image, annotation)

    def feedback(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        check_pair(image, mask)
        self._register(mask)
        with self._autocast(), torch.inference_mode():
            self._sync_permanent()
            frame = self._frame(index, image)
            masks = self._padded_onehot(mask, frame.geo)
            prob = soft_aggregate(masks, dim=0)
            self.memory.pop_working(index)
            self._memorize(frame, prob[1:], deep=False, permanent=False)

    def remove_object(self, object_id: int) -> None:
        slot = self._slots.remove(object_id)
        if slot < self.memory.num_objects:
            self.memory.remove_object(slot)
        if self._hidden is not None and slot < self._hidden.shape[1]:
            self._hidden = torch.cat([self._hidden[:, :slot], self._hidden[:, slot + 1 :]], 1)
        if self._kept_objects > slot:
            self._kept_objects -= 1

    # ---- the loop body -----------------------------------------------------------------

    def _step(self, index: int, image: np.ndarray, annotation: np.ndarray | None) -> StepResult:
        cfg = self.config
        if annotation is not None:
            self._register(annotation)
            if self._permanent_mode and index not in self._kept:
                self._kept[index] = _Kept(_trimmed(self._frame(index, image)), annotation.copy())
                self._kept_objects = -1
        if not self._slots:
            return self._background(image.shape[:2])
        self._sync_permanent()
        if self.memory.empty and annotation is None:
            return self._background(image.shape[:2])

        self._ti += 1
        ti = self._ti
        sync = cfg.deep_update_every < 0
        is_mem = annotation is not None or ti - self._last_mem >= cfg.mem_every
        deep = is_mem if sync else ti - self._last_deep >= cfg.deep_update_every
        normal = not sync or not deep
        absent = (
            annotation is not None
            and cfg.partial_annotations
            and bool(
                set(self._slots.ids[: self._with_memory()]) - set(np.unique(annotation).tolist())
            )
        )
        predict = not self.memory.empty and (annotation is None or absent)

        frame = self._frame(index, image)
        prob: torch.Tensor | None = None
        if predict:
            prob = self._predict(frame, update_hidden=normal)
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
            self._grow_hidden(len(self._slots), frame.key)

        if is_mem:
            kept = annotation is not None and index in self._kept and self._permanent_mode
            if kept:
                if deep:
                    self._deep_update(frame, prob[1:])
            else:
                pin = annotation is not None and self.memory.empty
                if pin:
                    self._kept[index] = _Kept(_trimmed(frame), annotation.copy())
                    self._kept_objects = len(self._slots)
                self._memorize(frame, prob[1:], deep=deep, permanent=pin)
            self._last_mem = ti
            if deep:
                self._last_deep = ti

        if annotation is not None and not absent:  # the frame's whole ground truth
            probs = onehot(annotation, self.object_ids)
        else:
            probs = self._to_ids(restore(prob.float(), frame.geo))
        return StepResult(probs, self.object_ids, confidence_of(probs))

    def _predict(self, frame: _Frame, *, update_hidden: bool) -> torch.Tensor:
        """Probabilities ``(n + 1, h', w')`` of the ``n`` objects that have memory."""
        n = self._with_memory()
        key = frame.key.flatten(2)[0]
        sel = frame.selection.flatten(2)[0]
        readout = self.memory.read(key, selection=sel)[:n]
        readout = readout.view(1, n, readout.shape[1], *frame.key.shape[-2:])
        self._grow_hidden(n, frame.key)
        hidden = None if self._hidden is None else self._hidden[:, :n]
        new_hidden, _, prob = self.net.segment(
            frame.features,
            readout.to(frame.features[0].dtype),
            hidden,
            update_hidden=update_hidden,
        )
        if new_hidden is not None:
            self._hidden = torch.cat([new_hidden, self._hidden[:, n:]], 1)
        return prob[0]

    def _memorize(self, frame: _Frame, masks: torch.Tensor, *, deep: bool, permanent: bool) -> None:
        """Encode values for ``masks (O, h', w')`` and add the frame to memory."""
        o = masks.shape[0]
        self._grow_hidden(o, frame.key)
        hidden = None if self._hidden is None else self._hidden[:, :o]
        value, new_hidden = self.net.encode_value(
            frame.image,
            frame.features[0],
            hidden,
            masks[None].to(frame.image.dtype),
            deep_update=deep,
        )
        self.memory.add(
            frame.key.flatten(2)[0],
            value[0].flatten(2),
            shrinkage=frame.shrinkage.flatten(2)[0],
            selection=frame.selection.flatten(2)[0] if self.config.long_term else None,
            permanent=permanent,
            tag=frame.index,
        )
        if deep and new_hidden is not None:
            self._hidden = torch.cat([new_hidden, self._hidden[:, o:]], 1)

    def _deep_update(self, frame: _Frame, masks: torch.Tensor) -> None:
        """Refresh the sensory memory from ``masks (O, h', w')`` without adding memory."""
        if self._hidden is None:
            return
        o = masks.shape[0]
        _, new_hidden = self.net.encode_value(
            frame.image,
            frame.features[0],
            self._hidden[:, :o],
            masks[None].to(frame.image.dtype),
            deep_update=True,
        )
        self._hidden = torch.cat([new_hidden, self._hidden[:, o:]], 1)

    def _sync_permanent(self) -> None:
        """Write the kept annotated frames again if objects were added since (XMem++)."""
        if not self._permanent_mode or self._kept_objects == len(self._slots):
            return
        self.memory.clear_permanent()
        self.memory.set_num_objects(len(self._slots))
        for index in sorted(self._kept):
            kept = self._kept[index]
            masks = self._padded_onehot(kept.mask, kept.frame.geo)
            prob = soft_aggregate(masks, dim=0)
            value, _ = self.net.encode_value(
                kept.frame.image,
                kept.frame.features[0],
                None,
                prob[1:][None].to(kept.frame.image.dtype),
                deep_update=False,
            )
            self.memory.add(
                kept.frame.key.flatten(2)[0],
                value[0].flatten(2),
                shrinkage=kept.frame.shrinkage.flatten(2)[0],
                selection=kept.frame.selection.flatten(2)[0],
                permanent=True,
                tag=index,
            )
        self._kept_objects = len(self._slots)
        log.debug("permanent memory: %d frames, %d objects", len(self._kept), len(self._slots))

    # ---- helpers ------------------------------------------------------------------------

    def _encode(self, index: int, image: np.ndarray) -> _Frame:
        geo = geometry(*image.shape[:2], self.config.size, max_long_side=self.config.max_long_side)
        x = prepare_image(image, geo, device=self.device, antialias=self.config.antialias)
        key, shrinkage, selection, features = self.net.encode_key(x)
        return _Frame(index, geo, x, key, shrinkage, selection, features)

    def _frame(self, index: int, image: np.ndarray) -> _Frame:
        """Key features of frame ``index``, reused when it was the last one encoded."""
        last = self._last
        if last is not None and last.index == index and last.geo.size == image.shape[:2]:
            return last
        self._last = self._encode(index, image)
        return self._last

    def _register(self, mask: np.ndarray) -> None:
        """Give new user ids of ``mask`` the next slots (in increasing id order).

        0 is background and 255 void: neither is an object.
        """
        self._slots.add_from(mask)

    def _with_memory(self) -> int:
        """Number of leading object slots that have values somewhere in memory."""
        return self.memory.objects_with_values

    def _grow_hidden(self, n: int, key: torch.Tensor) -> None:
        """Make the sensory memory hold at least ``n`` objects (new ones start at zero)."""
        c = self.net.hidden_dim
        if c == 0:
            return
        have = 0 if self._hidden is None else self._hidden.shape[1]
        if n <= have:
            return
        zeros = key.new_zeros(1, n - have, c, *key.shape[-2:])
        self._hidden = zeros if self._hidden is None else torch.cat([self._hidden, zeros], 1)

    def _padded_onehot(self, mask: np.ndarray, geo: Geometry) -> torch.Tensor:
        """``float (O, h', w')`` one-hot of ``mask`` over the object slots."""
        hot = onehot(mask, self._slots.ids)[1:]
        return prepare_masks(torch.from_numpy(hot).to(self.device), geo)

    def _to_ids(self, prob: torch.Tensor) -> np.ndarray:
        """Slot-ordered ``(1 + n, H, W)`` -> id-ordered ``float32 (1 + O, H, W)`` numpy."""
        order = self._slots.by_id()
        out = prob.new_zeros(1 + len(self._slots), *prob.shape[1:])
        out[0] = prob[0]
        for pos, slot in enumerate(order):
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


def _trimmed(frame: _Frame) -> _Frame:
    """``frame`` without its stride-8 and stride-4 features (kept frames only need f16)."""
    return _Frame(
        frame.index,
        frame.geo,
        frame.image,
        frame.key,
        frame.shrinkage,
        frame.selection,
        frame.features[:1],
    )
