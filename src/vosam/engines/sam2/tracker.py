"""SAM 2's video inference as a streaming :class:`~vosam.engines.base.Tracker`.

Frames come one at a time; nothing holds the video. Each object has its own memory, as in
SAM 2's video predictor (objects are tracked independently, batch size 1):

- **conditioning frames**: the annotated frames (vosam's permanent memory) and the frames
  given click/box prompts. They are kept for the whole video and every frame attends to
  them (or to the ``max_conditioning_frames`` closest in time);
- **recent frames**: the predicted frames that SAM 2 can still reach, the last
  ``num_maskmem - 1`` for spatial memory and the last ``max_obj_ptrs_in_encoder - 1`` for
  object pointers. Older ones are dropped, so memory stays flat on any video length.

Per frame: the image encoder runs once; each object runs SAM 2's ``track_step`` (memory
attention over its memory, mask decoder, memory encoder). Object probabilities are the
sigmoid of its mask logits at the frame's size, merged over objects by soft aggregation.

Annotated frames are encoded as SAM 2 encodes a mask given to ``add_new_mask`` before
propagation: the mask becomes logits of ±10, and the memory is encoded from them at the
low-resolution round trip SAM 2 makes, binarised. Every annotation is the frame's whole
ground truth: objects known when it is encoded and absent from it are conditioned as
absent there. :meth:`SAM2Tracker.add_permanent` defers encoding until propagation starts,
so all annotated frames see every annotated object whatever the order they were given in.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.base import StepResult, Tracker, check_pair, confidence_of, onehot
from vosam.engines.sam2.config import SAM2Config
from vosam.engines.sam2.preprocess import (
    mask_logits,
    prepare_image,
    prepare_mask,
    prompt_points,
    to_frame,
)
from vosam.engines.slots import ObjectSlots
from vosam.objects import VOID_ID
from vosam.types import Prompt

log = logging.getLogger(__name__)

NO_OBJECT = -1024.0  # SAM 2's logit for an object with no prediction on a frame
_UNKNOWN_LENGTH = 2**31 - 1  # video length when the caller does not give one


@dataclass
class _Features:
    """One frame's image-encoder output, flattened the way ``track_step`` takes it."""

    index: int
    size: tuple[int, int]  # (H, W) of the frame
    feats: list[torch.Tensor]  # per level (h*w, 1, C)
    pos: list[torch.Tensor]  # per level (h*w, 1, C)
    sizes: list[tuple[int, int]]  # per level (h, w)


@dataclass
class _Object:
    """One object's memory: frame index -> SAM 2's compact output of that frame."""

    cond: dict[int, dict[str, Any]] = field(default_factory=dict)
    recent: dict[int, dict[str, Any]] = field(default_factory=dict)


class SAM2Tracker(Tracker):
    """Per-video state of the SAM 2 engine. Made by :meth:`SAM2Propagator.new_tracker`.

    Takes click/box prompts natively (:meth:`add_prompt`).

    Args:
        model: a ``SAM2Base`` (shared, read-only, eval mode).
        config: memory and runtime settings.
        device: where the model runs.
        num_frames: the video's length when known. SAM 2 caps the object pointers it reads
            at the video length, which changes results on videos shorter than
            ``max_obj_ptrs_in_encoder`` (16) frames; unknown lengths count as long.
    """

    takes_prompts: ClassVar[bool] = True

    def __init__(
        self,
        model: torch.nn.Module,
        config: SAM2Config,
        device: torch.device,
        *,
        num_frames: int | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.device = device
        self.storage = torch.device("cpu") if config.offload_state else device
        self.num_frames = num_frames or _UNKNOWN_LENGTH
        self.size = int(model.image_size)
        stride = int(model.memory_temporal_stride_for_eval)
        reach_mem = 1 + max(int(model.num_maskmem) - 2, 0) * stride
        reach_ptr = int(model.max_obj_ptrs_in_encoder) - 1 if model.use_obj_ptrs_in_encoder else 0
        self.window = max(reach_mem, reach_ptr, 1)  # frames behind the current one kept
        self._slots = ObjectSlots("entry")  # each object's state is its own: no tensor slots
        self._objects: dict[int, _Object] = {}  # user id -> state, in slot order
        self._pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._annotated: set[int] = set()
        self._features_cache: _Features | None = None
        self._pos_enc: list[torch.Tensor] | None = None
        self._last_index: int | None = None
        self._last_reverse = False
        self._last_logits: dict[int, torch.Tensor] = {}
        self._autocast = device.type == "cuda" and config.amp
        self._fill_holes = (
            config.fill_holes
            and model.fill_hole_area > 0
            and device.type == "cuda"
            and _has_extension()
        )

    # ---- Tracker interface -------------------------------------------------------------

    @property
    def object_ids(self) -> tuple[int, ...]:
        return self._slots.sorted_ids

    def add_permanent(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        check_pair(image, mask)
        self._register(mask)
        self._pending[index] = (image.copy(), mask.copy())
        self._annotated.discard(index)

    def step(
        self, index: int, image: np.ndarray, *, annotation: np.ndarray | None = None
    ) -> StepResult:
        if annotation is not None:
            check_pair(image, annotation)
            self._register(annotation)
            if index not in self._annotated:
                self._pending[index] = (image, annotation)
        with self._context():
            self._flush()
            if not self._objects:
                return _background(image.shape[:2], self.object_ids)
            reverse = self._direction(index)
            tracked = [o for o in self._objects.values() if o.cond and index not in o.cond]
            # the image encoder runs only when some object is predicted on this frame
            feats = self._features(index, image) if tracked else None
            logits = [self._predict(oid, index, feats, reverse) for oid in self.object_ids]
            self._last_index, self._last_reverse = index, reverse
            self._last_logits = dict(zip(self.object_ids, logits, strict=True))
            if annotation is not None:
                probs = onehot(annotation, self.object_ids)
            else:
                probs = self._probs(torch.cat(logits), image.shape[:2])
        return StepResult(probs, self.object_ids, confidence_of(probs))

    def feedback(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        """Replace the recent memory of frame ``index`` by one encoded from ``mask``.

        As SAM 2 does with a mask given on an already tracked frame: the mask is taken as
        the output and its memory (and object pointer) re-encoded. Annotated and prompted
        frames keep their conditioning; ids not tracked are ignored.
        """
        check_pair(image, mask)
        with self._context():
            self._flush()
            feats = self._features(index, image)
            for oid, obj in self._objects.items():
                if index in obj.cond:
                    continue
                obj.recent[index] = self._encode_mask(obj, feats, mask == oid, cond=False)

    def remove_object(self, object_id: int) -> None:
        self._slots.remove(object_id)
        del self._objects[object_id]
        self._last_logits.pop(object_id, None)

    # ---- prompts ------------------------------------------------------------------------

    def add_prompt(
        self, index: int, image: np.ndarray, object_id: int, prompt: Prompt
    ) -> np.ndarray:
        """Make frame ``index`` a conditioning frame of ``object_id`` from a click/box prompt.

        As SAM 2's ``add_new_points_or_box``: on a frame not tracked yet for the object the
        prompt is segmented like SAM on an image (no memory); on the frame just stepped
        the memory and the previous prediction take part (a correction). A prompt with only
        a mask conditions the object on that mask (thresholded at 0.5); a mask given with
        points or a box is fed to the decoder as the previous prediction.

        Args:
            index: frame index.
            image: ``uint8 (H, W, 3)`` RGB of that frame.
            object_id: user id, 1..254; a new id becomes a new object.
            prompt: pixel coordinates of the frame (see :class:`vosam.refine.base.Prompt`).

        Returns:
            float32 ``(H, W)``: the object's probability on the frame.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
        if not 0 < object_id < VOID_ID:
            raise ValueError(f"object ids are 1..254, got {object_id}")
        with self._context():
            self._flush()
            if self._slots.add((object_id,)):
                self._objects[object_id] = _Object()
            obj = self._objects[object_id]
            feats = self._features(index, image)
            points = prompt_points(prompt, feats.size, self.size, self.device)
            if points is None:  # a mask alone
                entry = self._encode_mask(obj, feats, prompt.mask >= 0.5, cond=True)
            else:
                entry = self._encode_points(object_id, obj, feats, points, prompt)
            obj.cond[index] = entry
            obj.recent.pop(index, None)
            prob = torch.sigmoid(to_frame(entry["pred_masks"].to(self.device), feats.size))
        return prob[0].cpu().numpy()

    def _encode_points(
        self, oid: int, obj: _Object, feats: _Features, points: dict, prompt: Prompt
    ) -> dict[str, Any]:
        index = feats.index
        tracked = index == self._last_index and oid in self._last_logits
        prev = None
        if prompt.mask is not None:
            prev = mask_logits(prompt.mask, self.size, self.device)
        elif tracked:
            prev = self._last_logits[oid].to(self.device).clamp(-32.0, 32.0)
        out = self.model.track_step(
            frame_idx=index,
            is_init_cond_frame=not tracked,
            current_vision_feats=feats.feats,
            current_vision_pos_embeds=feats.pos,
            feat_sizes=feats.sizes,
            point_inputs=points,
            mask_inputs=None,
            output_dict=self._memory(obj, index),
            num_frames=self.num_frames,
            track_in_reverse=self._last_reverse if tracked else False,
            run_mem_encoder=False,
            prev_sam_mask_logits=prev,
        )
        return self._with_memory(out, feats)

    # ---- the loop body -----------------------------------------------------------------

    def _predict(
        self, oid: int, index: int, feats: _Features | None, reverse: bool
    ) -> torch.Tensor:
        """Low-res logits ``(1, 1, S/4, S/4)`` of object ``oid`` on frame ``index``, from its
        conditioning output there or by tracking (which updates its memory)."""
        obj = self._objects[oid]
        entry = obj.cond.get(index)
        if entry is not None:
            return entry["pred_masks"].to(self.device)
        if not obj.cond:  # nothing tells where the object is yet
            side = self.size // 4
            return torch.full((1, 1, side, side), NO_OBJECT, device=self.device)
        out = self.model.track_step(
            frame_idx=index,
            is_init_cond_frame=False,
            current_vision_feats=feats.feats,
            current_vision_pos_embeds=feats.pos,
            feat_sizes=feats.sizes,
            point_inputs=None,
            mask_inputs=None,
            output_dict=self._memory(obj, index),
            num_frames=self.num_frames,
            track_in_reverse=reverse,
            run_mem_encoder=True,
        )
        logits = self._postprocess(out["pred_masks"])
        obj.recent[index] = self._compact(out)
        for t in [t for t in obj.recent if abs(t - index) > self.window]:
            del obj.recent[t]
        return logits

    def _encode_mask(
        self, obj: _Object, feats: _Features, mask: np.ndarray, *, cond: bool
    ) -> dict[str, Any]:
        """SAM 2's output and memory of frame ``feats.index`` with ``mask`` taken as given."""
        index = feats.index
        out = self.model.track_step(
            frame_idx=index,
            is_init_cond_frame=index not in obj.cond and index not in obj.recent,
            current_vision_feats=feats.feats,
            current_vision_pos_embeds=feats.pos,
            feat_sizes=feats.sizes,
            point_inputs=None,
            mask_inputs=prepare_mask(mask, self.size, self.device),
            output_dict=self._memory(obj, index),
            num_frames=self.num_frames,
            track_in_reverse=False,
            run_mem_encoder=False,
        )
        entry = self._with_memory(out, feats)
        if not cond:
            entry.pop("pred_masks")
        return entry

    def _with_memory(self, out: dict[str, Any], feats: _Features) -> dict[str, Any]:
        """Encode the memory of an input frame from its low-res logits, as SAM 2 does
        before propagating (upsampled to ``S``, binarised), and keep its logits."""
        low = self._postprocess(out["pred_masks"])
        high = F.interpolate(low, size=(self.size, self.size), mode="bilinear", align_corners=False)
        features, pos = self.model._encode_new_memory(
            current_vision_feats=feats.feats,
            feat_sizes=feats.sizes,
            pred_masks_high_res=high,
            object_score_logits=out["object_score_logits"],
            is_mask_from_pts=True,
        )
        out = {**out, "maskmem_features": features, "maskmem_pos_enc": pos}
        entry = self._compact(out)
        entry["pred_masks"] = low.to(self.storage)
        return entry

    def _compact(self, out: dict[str, Any]) -> dict[str, Any]:
        """What later frames read of a frame's output; features rounded to bfloat16 as
        SAM 2 stores them (on the CPU with ``offload_state``).

        Without autocast they are kept as float32 holding the rounded values: SAM 2's
        bfloat16 memory only works in float32 when an object pointer joins it (the
        concatenation then promotes it), and an object whose only conditioning frames lie
        ahead has none. The values it reads are the same.
        """
        if self._pos_enc is None:
            self._pos_enc = [p[0:1].clone() for p in out["maskmem_pos_enc"]]
        features = out["maskmem_features"].to(torch.bfloat16)
        if not self._autocast:
            features = features.float()
        return {
            "maskmem_features": features.to(self.storage),
            "maskmem_pos_enc": self._pos_enc,
            "obj_ptr": out["obj_ptr"],
            "object_score_logits": out["object_score_logits"],
        }

    def _memory(self, obj: _Object, index: int) -> dict[str, dict[int, dict[str, Any]]]:
        """The output dict ``track_step`` reads for frame ``index``.

        With ``max_conditioning_frames``, the conditioning frames not selected are offered
        as ordinary frames, which is what SAM 2 does with them when it selects.
        """
        cond, recent = obj.cond, obj.recent
        limit = self.config.max_conditioning_frames
        if limit is not None and len(cond) > limit:
            from sam2.modeling.sam2_utils import select_closest_cond_frames

            cond, rest = select_closest_cond_frames(index, cond, limit)
            recent = {**rest, **recent}
        return {"cond_frame_outputs": cond, "non_cond_frame_outputs": recent}

    def _flush(self) -> None:
        """Encode the annotated frames given so far, for every object known now."""
        for index in sorted(self._pending):
            image, mask = self._pending.pop(index)
            feats = self._features(index, image)
            for oid, obj in sorted(self._objects.items()):
                obj.cond[index] = self._encode_mask(obj, feats, mask == oid, cond=True)
                obj.recent.pop(index, None)
            self._annotated.add(index)
            log.debug("conditioning frame %d encoded for %d objects", index, len(self._objects))

    # ---- helpers ------------------------------------------------------------------------

    def _features(self, index: int, image: np.ndarray) -> _Features:
        """Image features of frame ``index``, reused while the same frame comes again."""
        cached = self._features_cache
        if cached is not None and cached.index == index and cached.size == image.shape[:2]:
            return cached
        x = prepare_image(image, self.size, self.device)
        backbone = self.model.forward_image(x)
        _, feats, pos, sizes = self.model._prepare_backbone_features(backbone)
        self._features_cache = _Features(index, image.shape[:2], feats, pos, sizes)
        return self._features_cache

    def _direction(self, index: int) -> bool:
        """True when propagating backward: the previous frame was later, or (on the first
        frame) every conditioning frame lies after this one."""
        if self._last_index is not None:
            return self._last_reverse if self._last_index == index else self._last_index > index
        conds = [t for obj in self._objects.values() for t in obj.cond]
        return bool(conds) and min(conds) > index

    def _postprocess(self, logits: torch.Tensor) -> torch.Tensor:
        if not self._fill_holes:
            return logits
        from sam2.utils.misc import fill_holes_in_mask_scores

        return fill_holes_in_mask_scores(logits, self.model.fill_hole_area)

    def _probs(self, logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
        """Low-res logits ``(N, 1, h, w)`` -> ``float32 (N + 1, H, W)`` probabilities."""
        prob = torch.sigmoid(to_frame(logits, size))
        return soft_aggregate(prob, dim=0).cpu().numpy().astype(np.float32, copy=False)

    def _register(self, mask: np.ndarray) -> None:
        for oid in self._slots.add_from(mask):
            self._objects[oid] = _Object()

    def _context(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self._autocast:
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        return stack

    # ---- introspection (tests, benchmarks) ------------------------------------------------

    def stored_bytes(self) -> int:
        """Bytes held in per-object memory tensors (conditioning and recent frames).

        The positional encoding shared by every frame is counted once.
        """
        seen: set[int] = set()
        total = 0
        for obj in self._objects.values():
            for entry in (*obj.cond.values(), *obj.recent.values()):
                for value in entry.values():
                    for t in value if isinstance(value, list) else [value]:
                        if isinstance(t, torch.Tensor) and id(t) not in seen:
                            seen.add(id(t))
                            total += t.numel() * t.element_size()
        return total

    def memory_frames(self, object_id: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(conditioning frames, recent frames)`` held for ``object_id``, increasing."""
        obj = self._objects[object_id]
        return tuple(sorted(obj.cond)), tuple(sorted(obj.recent))


def _has_extension() -> bool:
    """Whether sam2's compiled extension (connected components, used to fill holes) loads."""
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


def _background(size: tuple[int, int], ids: tuple[int, ...]) -> StepResult:
    probs = onehot(np.zeros(size, np.uint8), ids)
    return StepResult(probs, ids, confidence_of(probs))
