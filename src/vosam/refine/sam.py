"""SAM and HQ-SAM as promptable segmenters (``sam`` and ``sam-hq``).

Both are built through their official packages (``segment_anything`` and
``segment_anything_hq``, which import as different modules and live in one environment) and
run through their official ``SamPredictor``. The packages are imported only when a model is
built. Checkpoints are loaded strictly: a file that does not match the chosen model type
raises :class:`~vosam.errors.CheckpointError` naming the mismatched keys.

SAM resizes the image so that its long side is 1024 and pads it to 1024 × 1024; its mask
prompt is a 256 × 256 logit map of that padded frame (:func:`sam_mask_input`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from vosam.devices import resolve_device
from vosam.engines.state_dict import read_tensor_dict, state_dict_problems
from vosam.errors import CheckpointError
from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter

log = logging.getLogger(__name__)

MODEL_TYPES = ("vit_h", "vit_l", "vit_b")
HQ_MODEL_TYPES = (*MODEL_TYPES, "vit_tiny")
"""HQ-SAM's types: SAM's and Light HQ-SAM's TinyViT encoder (``vit_tiny``, needs timm)."""
LOGIT_CLIP = 10.0
"""Mask prompts are probabilities turned into logits clipped to ± this value."""


def prob_to_logit(prob: np.ndarray) -> np.ndarray:
    """float32 logits of probabilities ``prob`` clipped to ``±LOGIT_CLIP``."""
    p = np.clip(prob.astype(np.float32), 1e-6, 1 - 1e-6)
    return np.clip(np.log(p / (1 - p)), -LOGIT_CLIP, LOGIT_CLIP).astype(np.float32)


def sam_mask_input(prob: np.ndarray, input_size: tuple[int, int], size: int = 1024) -> np.ndarray:
    """SAM's mask prompt from a probability map at the image's resolution.

    Args:
        prob: float32 ``(H, W)`` in [0, 1].
        input_size: ``(h, w)`` of the image resized for the encoder (long side ``size``).
        size: the encoder's square input side.
    Returns:
        float32 ``(1, size // 4, size // 4)`` logits: the map resized like the image, a
        quarter of its size, padded at the bottom and right with the most negative logit.
    """
    low = size // 4
    h, w = (max(1, round(s / 4)) for s in input_size)
    resized = cv2.resize(prob.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.full((1, low, low), -LOGIT_CLIP, np.float32)
    out[0, :h, :w] = prob_to_logit(resized)
    return out


def load_strict(
    model: torch.nn.Module, path: str | Path, *, what: str, unwrap: str | None = None
) -> None:
    """Load the checkpoint at ``path`` into ``model`` strictly.

    Args:
        what: the model's name for messages (``"SAM vit_b"``).
        unwrap: key of the state dict inside the file (``"model"`` for SAM 2), if any.
    Raises:
        CheckpointError: no such file, not a checkpoint, or keys/shapes that do not match.
    """
    content = read_tensor_dict(
        path,
        kind=f"a {what}",
        malformed=f"is not a {what} checkpoint (no state dict of tensors)",
        unwrap=unwrap,
    )
    expected = model.state_dict()
    problems = state_dict_problems(expected, content)
    if problems:
        raise CheckpointError(path, f"does not match {what}: " + "; ".join(problems))
    model.load_state_dict(content, strict=True)
    log.info("%s weights loaded from %s", what, path)


def check_file(path: str | Path | None, what: str) -> None:
    """Fail early, before a model is built, when a checkpoint path names no file."""
    if path is not None and not Path(path).is_file():
        raise CheckpointError(path, f"no such file; pass the path of a {what} checkpoint")


def pick_best(masks: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, float]:
    """The highest-scoring of ``masks (C, H, W)`` logits and its score."""
    k = int(np.argmax(scores))
    return masks[k].astype(np.float32), float(scores[k])


class SamSegmenter(PromptableSegmenter):
    """SAM or HQ-SAM through its official ``SamPredictor``.

    Args:
        predictor: an official ``SamPredictor`` (of either package) around the loaded model.
        name: ``"sam"`` or ``"sam-hq"``.
    """

    def __init__(self, predictor: Any, name: str) -> None:
        self.predictor = predictor
        self.name = name
        self._hq = name == "sam-hq"
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        return self.predictor.model.device.type

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> ImageEmbedding:
        with self._lock:
            self.predictor.set_image(np.ascontiguousarray(image), image_format="RGB")
            data = {
                "features": self.predictor.features,
                "interm": getattr(self.predictor, "interm_features", None),
                "original_size": self.predictor.original_size,
                "input_size": self.predictor.input_size,
            }
            self.predictor.reset_image()
        return ImageEmbedding(size=tuple(image.shape[:2]), data=data)

    @torch.inference_mode()
    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        data = embedding.data
        mask_input = None
        if prompt.mask is not None:
            size = self.predictor.model.image_encoder.img_size
            mask_input = sam_mask_input(prompt.mask, data["input_size"], size)
        # a lone point or a few points are ambiguous: let SAM propose three masks
        multimask = prompt.box is None and prompt.mask is None
        kwargs: dict[str, Any] = {"hq_token_only": False} if self._hq else {}
        with self._lock:
            p = self.predictor
            p.features, p.original_size, p.input_size = (
                data["features"],
                data["original_size"],
                data["input_size"],
            )
            if self._hq:
                p.interm_features = data["interm"]
            p.is_image_set = True
            try:
                logits, scores, _ = p.predict(
                    point_coords=prompt.points,
                    point_labels=prompt.labels,
                    box=prompt.box,
                    mask_input=mask_input,
                    multimask_output=multimask,
                    return_logits=True,
                    **kwargs,
                )
            finally:
                p.reset_image()
        best, score = pick_best(logits, scores)
        threshold = float(self.predictor.model.mask_threshold)
        return Prediction(mask=best > threshold, score=float(np.clip(score, 0, 1)), logits=best)


def _build(
    package: str,
    name: str,
    *,
    checkpoint: str | Path | None,
    model_type: str,
    device: str,
) -> SamSegmenter:
    types = HQ_MODEL_TYPES if name == "sam-hq" else MODEL_TYPES
    if model_type not in types:
        raise ValueError(
            f"unknown {name} model type {model_type!r}; choose one of {', '.join(types)}"
        )
    check_file(checkpoint, f"{name} {model_type}")
    from importlib import import_module

    module = import_module(package)
    model = module.sam_model_registry[model_type](checkpoint=None)
    if checkpoint is not None:
        load_strict(model, checkpoint, what=f"{name} {model_type}")
    else:
        log.warning("%s %s built with random weights (no checkpoint given)", name, model_type)
    model = model.to(resolve_device(device)).eval()
    return SamSegmenter(module.SamPredictor(model), name)


def build_sam_segmenter(
    *, checkpoint: str | Path | None = None, model_type: str = "vit_h", device: str = "auto"
) -> SamSegmenter:
    """SAM (``segment_anything``) ``vit_h``/``vit_l``/``vit_b``; random weights without a
    checkpoint (for tests)."""
    return _build(
        "segment_anything", "sam", checkpoint=checkpoint, model_type=model_type, device=device
    )


def build_sam_hq_segmenter(
    *, checkpoint: str | Path | None = None, model_type: str = "vit_h", device: str = "auto"
) -> SamSegmenter:
    """HQ-SAM (``segment_anything_hq``) ``vit_h``/``vit_l``/``vit_b``, or Light HQ-SAM
    ``vit_tiny``; random weights without a checkpoint (for tests)."""
    return _build(
        "segment_anything_hq", "sam-hq", checkpoint=checkpoint, model_type=model_type, device=device
    )
