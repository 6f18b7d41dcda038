"""Per-video state of the fused engine.

Per frame, up to three kinds of evidence:

1. **correspondence**: stride-8 label propagation from the annotated frames and the last
   few propagated ones, through local windows (:mod:`.correspondence`);
2. **detection** that does not drift: the annotated frames read globally at stride 16
   (anywhere in the frame), times the per-video appearance model (:mod:`.appearance`),
   which scores every cell wherever the object went;
3. **motion** (``FusedConfig.flow``, off by default): dense optical flow from this frame to
   the previous one (:mod:`.motion`) carries every memory frame's windows along.

Propagation decides while the detection agrees with it; while it agrees but the
propagated mask has shrunk below ``grow_below`` of the object's usual area, detected parts
touching the mask are added to it. When they part (overlap below ``switch_agree``) and the
detection is sure of a component of plausible size, the detection decides: a drifted or
vanished mask is replaced by the object found again, and the frame's
:attr:`~vosam.types.StepResult.redetected` says so. Only confident frames update the
appearance model; every frame enters the recent memory.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.base import StepResult, Tracker, confidence_of, onehot
from vosam.engines.embedded.features import FeatureExtractor, FrameFeatures
from vosam.engines.embedded.tracker import upsample_cells
from vosam.engines.fused.appearance import RidgeTarget, mask_cells, rows
from vosam.engines.fused.config import FusedConfig
from vosam.engines.fused.correspondence import WindowMemory
from vosam.engines.fused.motion import FlowField
from vosam.engines.slots import ObjectSlots

# a cell belongs to a mask at this probability
HALF = 0.5


class FusedTracker(Tracker):
    """Correspondence, motion and re-detection over frozen features (see the module)."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        config: FusedConfig,
        parent: torch.Tensor | None = None,
    ) -> None:
        self.extractor = extractor
        self.config = config
        self._slots = ObjectSlots("sorted")
        self._memory: WindowMemory | None = None
        self._flow = FlowField() if config.flow else None
        self._basis: torch.Tensor | None = None
        self._global: dict[int, tuple[torch.Tensor, np.ndarray]] = {}  # index → key, mask
        self._global_memory: tuple | None = None  # (what it holds, keys, values)
        self._annotated: dict[int, tuple[torch.Tensor, np.ndarray]] = {}  # index → rows, mask
        lam = config.parent_lambda if parent is not None else config.ridge_lambda
        self._ridge = RidgeTarget(ridge_lambda=lam, parent=parent, decay=config.online_decay)
        self._areas: list[list[float]] = []
        self._played: set[int] = set()

    @property
    def object_ids(self) -> tuple[int, ...]:
        return self._slots.ids

    # -- annotations ---------------------------------------------------------------------

    def _register(self, mask: np.ndarray) -> bool:
        added = self._slots.add_from(mask)
        for oid in added:
            slot = self._slots.slot(oid)
            if self._memory is not None:
                self._memory.insert_object(slot)
            self._ridge.insert_class(slot + 1)
            self._areas.insert(slot, [])
        return bool(added)

    def _cells(self, mask: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """``(N + 1, h, w)`` area-averaged background and objects of ``mask`` at ``size``."""
        oh = torch.from_numpy(onehot(mask, self.object_ids))
        return F.adaptive_avg_pool2d(oh[None], size)[0]

    def _key8(self, dense: torch.Tensor) -> torch.Tensor:
        """``(C, h8, w8)`` unit keys: the dense features projected on the video's principal
        directions (fitted on the first annotated frame) and renormalised."""
        channels, h, w = dense.shape
        flat = dense.reshape(channels, -1)
        dims = self.config.key_dims
        if dims is None or dims >= channels:
            key = flat
        else:
            if self._basis is None:
                u, _, _ = torch.linalg.svd(flat.float(), full_matrices=False)
                self._basis = u[:, :dims].T.contiguous()
            key = self._basis @ flat
        key = key / (key.norm(dim=0, keepdim=True) + 1e-6)
        return key.reshape(-1, h, w)

    def _annotate(self, index: int, feats: FrameFeatures, mask: np.ndarray, *, linked: bool):
        """Write annotated frame ``index`` into every part of the model."""
        self._register(mask)
        h8, w8 = feats.dense.shape[-2:]
        if self._memory is None:
            cfg = self.config
            self._memory = WindowMemory(
                (h8, w8), radius=cfg.radius, tile=cfg.tile, recent=cfg.recent
            )
        values = self._cells(mask, (h8, w8))
        self._memory.add(index, self._key8(feats.dense), values, permanent=True, linked=linked)
        self._global[index] = (feats.key, mask)
        self._global_memory = None
        self._annotated[index] = (rows(feats.dense), mask)
        self._fit_ridge((h8, w8))
        for slot in range(len(self._slots)):
            self._areas[slot].append(float(values[slot + 1].sum()))

    def _labels(self, mask: np.ndarray, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Class indices (0 background, slot + 1) of ``mask`` at ``size`` (nearest) and the
        cells that count (void and unknown ids do not)."""
        lut = torch.full((256,), -1, dtype=torch.long)
        lut[0] = 0
        for slot, oid in enumerate(self._slots.ids):
            lut[oid] = slot + 1
        labels = lut[mask_cells(mask, size)]
        valid = labels >= 0
        return labels.clamp(min=0), valid

    def _fit_ridge(self, size: tuple[int, int]) -> None:
        frames = []
        for x, mask in self._annotated.values():
            labels, valid = self._labels(mask, size)
            frames.append((x[valid], labels[valid]))
        self._ridge.fit(frames, len(self._slots) + 1)

    def _global_read(self, key: torch.Tensor, size8: tuple[int, int]) -> torch.Tensor:
        """``(N + 1, h8, w8)``: the annotated frames read at stride 16 over the whole frame."""
        channels, h16, w16 = key.shape
        state = (tuple(self._global), self._slots.ids)
        if self._global_memory is None or self._global_memory[0] != state:
            keys, values = [], []
            for k, mask in self._global.values():
                keys.append(k.reshape(channels, -1))
                values.append(self._cells(mask, (h16, w16)).reshape(len(self._slots) + 1, -1))
            self._global_memory = (state, torch.cat(keys, 1), torch.cat(values, 1))
        _, memory_keys, memory_values = self._global_memory
        sim = key.reshape(channels, -1).T @ memory_keys
        top, index = sim.topk(min(self.config.global_top_k, sim.shape[1]), dim=1)
        weight = torch.softmax(top / self.config.temperature, 1)
        read = (memory_values[:, index] * weight[None]).sum(-1).reshape(-1, h16, w16)
        read = F.interpolate(read[None], size=size8, mode="bilinear", align_corners=False)[0]
        return read / read.sum(0, keepdim=True).clamp(min=1e-6)

    # -- Tracker interface ---------------------------------------------------------------

    @torch.inference_mode()
    def add_permanent(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        self._annotate(index, self.extractor(image), mask, linked=False)

    def remove_object(self, object_id: int) -> None:
        slot = self._slots.remove(object_id)
        if self._memory is not None:
            self._memory.remove_object(slot)
        self._ridge.remove_class(slot + 1)
        del self._areas[slot]
        self._global = {
            i: (k, np.where(m == object_id, 0, m)) for i, (k, m) in self._global.items()
        }
        self._global_memory = None
        self._annotated = {
            i: (x, np.where(m == object_id, 0, m)) for i, (x, m) in self._annotated.items()
        }
        if self._annotated and self._slots:
            h8, w8 = self._memory.h, self._memory.w
            self._fit_ridge((h8, w8))

    @torch.inference_mode()
    def feedback(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        feats = self.extractor(image)
        self._register(mask)
        size = tuple(feats.dense.shape[-2:])
        self._memory.add(index, self._key8(feats.dense), self._cells(mask, size), permanent=False)

    @torch.inference_mode()
    def step(
        self, index: int, image: np.ndarray, *, annotation: np.ndarray | None = None
    ) -> StepResult:
        feats = self.extractor(image)
        size8 = tuple(feats.dense.shape[-2:])
        gray = None
        if self._flow is not None:
            gray = self._flow.gray(image, self.extractor.input_size(image.shape[:2]))
        if annotation is not None:
            if index in self._annotated and index not in self._played:
                self._register(annotation)
                self._memory.link(index)  # written by add_permanent: flow starts here
            else:
                self._annotate(index, feats, annotation, linked=True)
            self._played.add(index)
            if self._flow is not None:
                self._flow.reset(gray)
            probs = onehot(annotation, self.object_ids)
            return StepResult(probs, self.object_ids, confidence_of(probs))
        if not self._slots or self._memory is None:
            raise RuntimeError("no object to track: give an annotation first")
        self._played.add(index)
        cfg = self.config
        if self._flow is not None:
            self._memory.advance(self._flow.backward(gray, size8))
        query = self._key8(feats.dense)
        x = rows(feats.dense)
        detection = None
        if cfg.detection:
            appearance = self._ridge.predict(x, size8)
            detection = torch.sqrt(self._global_read(feats.key, size8) * appearance)
            detection = detection / detection.sum(0, keepdim=True).clamp(min=1e-6)
        redetected: tuple[int, ...] = ()
        if not cfg.correspondence:  # the detection alone (an ablation)
            out = detection
        else:
            out = self._memory.read(query, top_k=cfg.top_k, temperature=cfg.temperature)
            if detection is not None:
                out, redetected = self._decide(out, detection)
        self._memory.add(index, query, out, permanent=False)
        best = out.max(0)
        if cfg.detection and float(best.values.mean()) >= cfg.online_frame:
            self._ridge.update(
                x, best.indices.reshape(-1), best.values.reshape(-1) >= cfg.online_pixel
            )
        fg = out[1:]
        probs = upsample_cells(
            soft_aggregate(fg, dim=0),
            image,
            self.extractor.input_size(image.shape[:2]),
            radius=cfg.guided_radius,
            eps=cfg.guided_eps,
        )
        return StepResult(probs, self.object_ids, confidence_of(probs), redetected)

    def _decide(
        self, out: torch.Tensor, detection: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Propagated ``out`` and ``detection`` (both ``(N + 1, h8, w8)``) → the frame's
        probabilities and the objects re-detected (see the module's docstring)."""
        cfg = self.config
        low, high = cfg.area_range
        redetected = []
        for slot, oid in enumerate(self._slots.ids):
            k = slot + 1
            history = self._areas[slot][-cfg.area_history :]
            ref = float(np.median(history)) if history else 0.0
            d, p = detection[k].numpy(), out[k].numpy()
            found, kept = d > HALF, p > HALF
            union = np.count_nonzero(found | kept)
            agree = np.count_nonzero(found & kept) / union if union else 0.0
            if d.max() > cfg.detect_min and agree < cfg.switch_agree:
                labels, count = ndimage.label(found)
                if count:
                    mass = ndimage.sum(d, labels, range(1, count + 1))
                    component = labels == int(np.argmax(mass)) + 1
                    if low * ref < component.sum() < high * ref:
                        out = _replace(
                            out, k, torch.from_numpy(component.astype(np.float32)) * detection[k]
                        )
                        redetected.append(oid)
            elif (
                cfg.grow
                and agree > cfg.switch_agree
                and (cfg.grow_below is None or float(out[k].sum()) < cfg.grow_below * ref)
            ):
                labels, _ = ndimage.label(found)
                touching = np.unique(labels[found & kept])
                parts = np.isin(labels, touching[touching > 0])
                added = detection[k] * torch.from_numpy(parts.astype(np.float32))
                out = _replace(out, k, torch.maximum(out[k], added))
            area = float(out[k].sum())
            if area > low * ref:  # a frame where the object is lost says nothing of its size
                self._areas[slot].append(area)
        return out, tuple(redetected)


def _replace(out: torch.Tensor, k: int, mask: torch.Tensor) -> torch.Tensor:
    """``out`` with channel ``k`` set to ``mask``; the difference goes to the background,
    then columns are renormalised."""
    out = out.clone()
    out[0] = out[0] + out[k] - mask
    out[k] = mask
    out = out.clamp(min=0)
    return out / out.sum(0, keepdim=True).clamp(min=1e-6)
