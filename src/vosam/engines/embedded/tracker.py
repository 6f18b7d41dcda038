"""Per-video state of the embedded engine: memory, online head, previous mask."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.base import StepResult, Tracker, confidence_of, onehot
from vosam.engines.embedded.config import EmbeddedConfig
from vosam.engines.embedded.features import FeatureExtractor, FrameFeatures
from vosam.engines.embedded.head import SegmentationHead, train_head
from vosam.engines.slots import ObjectSlots
from vosam.memory import MemoryStore
from vosam.ops.guided_filter import guided_upsample, low_size

# the guided filter solves its coefficients at 1/4 of the frame's resolution
GUIDED_SCALE = 4


class EmbeddedTracker(Tracker):
    """Memory readout + per-video head over frozen features, fused and upsampled.

    Per frame: the stride-16 key reads each object's soft mask from memory (permanent
    annotations, recent frames, long-term prototypes); the head classifies the stride-8
    features, seeing the previous mask; the two are mixed, then upsampled to the frame with
    a guided filter so that mask edges follow image edges.
    """

    def __init__(self, extractor: FeatureExtractor, config: EmbeddedConfig) -> None:
        self.extractor = extractor
        self.config = config
        self.device = extractor.device
        self.memory = MemoryStore(config.memory)
        self._slots = ObjectSlots("sorted")  # the head's outputs follow increasing ids
        self._permanent: set[int] = set()
        self._train_dense: list[torch.Tensor] = []
        self._train_masks: list[np.ndarray] = []  # uint8 masks at stride 8, user ids
        self._head: SegmentationHead | None = None
        self._prev: torch.Tensor | None = None  # (N, h8, w8) previous object probabilities
        self._since_memory = 0
        # the memory uses XMem's L2 similarity; on unit vectors -|k-q|²·s/√C equals
        # (k·q - 1)/T when s = √C / (2T)
        self._shrinkage_value: float | None = None
        self._basis: torch.Tensor | None = None  # (key_dims, C_k) projection of the keys

    @property
    def object_ids(self) -> tuple[int, ...]:
        return self._slots.ids

    # -- memory and head ----------------------------------------------------------------

    def _register(self, mask: np.ndarray) -> None:
        if self._slots.add_from(mask):
            self._head = None  # the head's outputs follow the object list: retrain
            self._prev = None

    def _values(self, probs: torch.Tensor) -> torch.Tensor:
        """Memory values ``(N, 1, h16·w16)`` from object probabilities ``(N, h, w)``
        (``N`` may be 0: an annotation before any object has pixels)."""
        return probs.reshape(len(self._slots), 1, probs.shape[-2] * probs.shape[-1])

    def _object_probs(self, mask: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        """``(N, h, w)`` area-averaged object masks of ``mask (H, W)`` at ``size``."""
        oh = torch.from_numpy(onehot(mask, self.object_ids)[1:]).to(self.device)
        return F.adaptive_avg_pool2d(oh[None], size)[0] if oh.numel() else oh

    def _key(self, feats: FrameFeatures) -> torch.Tensor:
        """``(C, h16·w16)`` matching key, projected on the video's principal directions.

        The basis is fitted once, on the first frame that enters memory (an annotation):
        the leading left singular vectors of its keys. Projected keys are renormalised, so
        the readout stays a cosine similarity, computed over far fewer channels.
        """
        key = feats.key.reshape(feats.key.shape[0], -1)
        dims = self.config.key_dims
        if dims is None or dims >= key.shape[0]:
            return key
        if self._basis is None:
            u, _, _ = torch.linalg.svd(key.float(), full_matrices=False)
            self._basis = u[:, :dims].T.contiguous()
        projected = self._basis @ key
        return projected / (projected.norm(dim=0, keepdim=True) + 1e-6)

    def _add_memory(
        self,
        feats: FrameFeatures,
        probs16: torch.Tensor,
        *,
        permanent: bool,
        key: torch.Tensor | None = None,
    ) -> None:
        """Write a frame to memory; ``key`` is its :meth:`_key` when already computed."""
        key = self._key(feats) if key is None else key
        if self._shrinkage_value is None:
            self._shrinkage_value = math.sqrt(key.shape[0]) / (2 * self.config.temperature)
        shrink = torch.full((1, key.shape[1]), self._shrinkage_value, device=self.device)
        self.memory.add(key, self._values(probs16), shrinkage=shrink, permanent=permanent)

    def _remember_annotation(self, index: int, feats: FrameFeatures, mask: np.ndarray) -> None:
        self._register(mask)
        probs16 = self._object_probs(mask, tuple(feats.key.shape[-2:]))
        if index not in self._permanent:
            self._permanent.add(index)
            self._add_memory(feats, probs16, permanent=True)
            h8, w8 = feats.dense.shape[-2:]
            small = np.asarray(
                F.interpolate(
                    torch.from_numpy(np.array(mask))[None, None].float(),
                    size=(h8, w8),
                    mode="nearest",
                )[0, 0].to(torch.uint8)
            )
            self._train_dense.append(feats.dense)
            self._train_masks.append(small)
            self._head = None

    def _ensure_head(self) -> SegmentationHead:
        if self._head is None:
            cfg = self.config
            lut = np.full(256, -1, np.int64)
            lut[0] = 0
            for k, oid in enumerate(self._slots.ids, 1):
                lut[oid] = k
            labels = torch.from_numpy(np.stack([lut[m] for m in self._train_masks])).to(self.device)
            self._head = train_head(
                torch.stack(self._train_dense),
                labels,
                len(self._slots),
                hidden=cfg.head_hidden,
                # each annotated frame gets its share of steps, up to four frames' worth
                iters=cfg.head_iters * min(len(self._train_masks), 4),
                mask_input=cfg.head_mask_input,
                seed=cfg.seed,
                pixels=cfg.head_pixels,
            )
        return self._head

    # -- Tracker interface --------------------------------------------------------------

    def add_permanent(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        self._remember_annotation(index, self.extractor(image), mask)

    def remove_object(self, object_id: int) -> None:
        slot = self._slots.remove(object_id)
        self.memory.remove_object(slot)
        self._head = None
        self._prev = (
            None if self._prev is None else torch.cat([self._prev[:slot], self._prev[slot + 1 :]])
        )
        self._train_masks = [np.where(m == object_id, 0, m) for m in self._train_masks]

    def feedback(self, index: int, image: np.ndarray, mask: np.ndarray) -> None:
        feats = self.extractor(image)
        probs16 = self._object_probs(mask, tuple(feats.key.shape[-2:]))
        self._add_memory(feats, probs16, permanent=False)
        self._prev = self._object_probs(mask, tuple(feats.dense.shape[-2:]))

    @torch.inference_mode()
    def step(
        self, index: int, image: np.ndarray, *, annotation: np.ndarray | None = None
    ) -> StepResult:
        feats = self.extractor(image)
        if annotation is not None:
            self._remember_annotation(index, feats, annotation)
            self._prev = self._object_probs(annotation, tuple(feats.dense.shape[-2:]))
            self._since_memory = 0
            probs = onehot(annotation, self.object_ids)
            return StepResult(probs, self.object_ids, confidence_of(probs))
        if not self._slots:
            raise RuntimeError("no object to track: give an annotation first")
        key = self._key(feats)
        fg8 = self._predict(feats, key)
        self._prev = fg8
        self._since_memory += 1
        if self._since_memory >= self.config.mem_every:
            self._since_memory = 0
            # remember the decided mask, not the soft one: soft values would fade a little
            # more with every frame read back from memory
            hard = _hard_masks(fg8)
            fg16 = F.adaptive_avg_pool2d(hard[None], tuple(feats.key.shape[-2:]))[0]
            self._add_memory(feats, fg16, permanent=False, key=key)
        probs = self._upsample(soft_aggregate(fg8, dim=0), image)
        return StepResult(probs, self.object_ids, confidence_of(probs))

    def _predict(self, feats: FrameFeatures, key: torch.Tensor) -> torch.Tensor:
        """Object probabilities ``(N, h8, w8)`` of a frame (``key``: its :meth:`_key`):
        readout and head, mixed."""
        cfg = self.config
        h8, w8 = feats.dense.shape[-2:]
        h16, w16 = feats.key.shape[-2:]
        read = self.memory.read(key)
        read = read.reshape(len(self._slots), h16, w16).clamp(0, 1)
        read = F.interpolate(read[None], size=(h8, w8), mode="bilinear", align_corners=False)[0]
        if cfg.head_weight == 0:
            return read
        head = self._ensure_head()
        prev = self._prev if self._prev is not None else read
        logits = head(feats.dense[None], prev[None] if cfg.head_mask_input else None)
        head_fg = torch.softmax(logits[0], 0)[1:]
        return cfg.head_weight * head_fg + (1 - cfg.head_weight) * read

    def _upsample(self, probs8: torch.Tensor, image: np.ndarray) -> np.ndarray:
        """``(N + 1, H, W)`` float32 probabilities at the frame's resolution."""
        in_size = self.extractor.input_size(image.shape[:2])
        return upsample_cells(
            probs8, image, in_size, radius=self.config.guided_radius, eps=self.config.guided_eps
        )


def upsample_cells(
    probs8: torch.Tensor,
    image: np.ndarray,
    input_size: tuple[int, int],
    *,
    radius: int,
    eps: float,
) -> np.ndarray:
    """Stride-8 probabilities ``(N + 1, h8, w8)`` of a frame whose backbone input was
    ``input_size`` → ``(N + 1, H, W)`` float32 at the frame's resolution, edge-aware (a
    colour guided filter of ``radius`` pixels; 0: bilinear)."""
    h, w = image.shape[:2]
    in_h, in_w = input_size
    # stride-8 cells cover ceil(in / 8) * 8 input pixels: the last ones hold padding
    cells = probs8.float().cpu()
    cell_h, cell_w = in_h / (h * 8), in_w / (w * 8)  # cells per frame pixel
    if radius == 0:
        up = F.interpolate(
            cells[None],
            size=(round(cells.shape[1] / cell_h), round(cells.shape[2] / cell_w)),
            mode="bilinear",
            align_corners=False,
        )[0, :, :h, :w].numpy()
        up = np.maximum(up, 0)
        up /= np.maximum(up.sum(0, keepdims=True), 1e-7)
        return up
    # the objects' cells go straight to the filter's working grid (no full-size detour);
    # the filter is linear, so the background is one minus the objects, then clipped
    lh, lw = low_size((h, w), GUIDED_SCALE)
    rows = _bilinear_weights(lh, cells.shape[1], h / lh * cell_h)
    cols = _bilinear_weights(lw, cells.shape[2], w / lw * cell_w)
    low = (rows @ cells[1:] @ cols.T).numpy()
    objects = guided_upsample(image, low, radius=radius, eps=eps, scale=GUIDED_SCALE, clip=False)
    up = np.empty((objects.shape[0] + 1, h, w), np.float32)
    np.subtract(1, objects.sum(0), out=up[0])
    up[1:] = objects
    np.clip(up, 0, 1, out=up)
    if objects.shape[0] > 1:  # with one object the two clipped maps still sum to one
        up /= np.maximum(up.sum(0, keepdims=True), 1e-7)
    return up


def _bilinear_weights(size_out: int, size_in: int, step: float) -> torch.Tensor:
    """``(size_out, size_in)`` matrix of 1-D bilinear sampling (half-pixel centres, edges
    clamped) at source positions ``(i + 0.5) * step - 0.5``, as ``F.interpolate`` samples."""
    src = ((torch.arange(size_out, dtype=torch.float64) + 0.5) * step - 0.5).clamp(min=0)
    lo = src.floor().long().clamp(max=size_in - 1)
    hi = (lo + 1).clamp(max=size_in - 1)
    frac = (src - lo).clamp(max=1).float()
    out = torch.zeros(size_out, size_in)
    index = torch.arange(size_out)
    out.index_put_((index, lo), 1 - frac, accumulate=True)
    out.index_put_((index, hi), frac, accumulate=True)
    return out


def _hard_masks(fg: torch.Tensor) -> torch.Tensor:
    """One-hot ``(N, h, w)`` of the argmax over background + objects of ``fg (N, h, w)``."""
    agg = soft_aggregate(fg, dim=0)
    winner = agg.argmax(0)
    return torch.stack([(winner == k).float() for k in range(1, fg.shape[0] + 1)])
