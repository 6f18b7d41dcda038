"""SAM 2's image predictor as a promptable segmenter (``sam2``).

Built with the official ``sam2.build_sam.build_sam2`` and run through the public methods of
``SAM2ImagePredictor`` (``set_image``, ``predict``), one predictor per embedded image; tested
with ``sam2`` 1.1, the version the extra allows. ``sam2`` is imported only inside the
builder, within the Hydra scope of :mod:`vosam.engines.sam2.build`, so importing vosam
leaves Hydra alone. Checkpoints (``{"model": state_dict}``) are loaded strictly.

SAM 2 resizes the image to a square ``image_size`` × ``image_size`` without keeping the
aspect ratio; its mask prompt is a ``image_size / 4`` square logit map of that resized frame
(:func:`sam2_mask_input`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from vosam.devices import resolve_device
from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter
from vosam.refine.sam import check_file, load_strict, pick_best, prob_to_logit
from vosam.refine.weights import require_weights

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "configs/sam2.1/sam2.1_hiera_l.yaml"


def sam2_mask_input(prob: np.ndarray, size: int = 1024) -> np.ndarray:
    """SAM 2's mask prompt: float32 ``(1, size // 4, size // 4)`` logits of ``prob (H, W)``
    resized to the square (aspect not kept, like the image)."""
    low = size // 4
    resized = cv2.resize(prob.astype(np.float32), (low, low), interpolation=cv2.INTER_LINEAR)
    return prob_to_logit(resized)[None]


class Sam2ImageSegmenter(PromptableSegmenter):
    """SAM 2 through the official ``SAM2ImagePredictor``, by its public methods only.

    A predictor holds the features of one image. :meth:`embed` gives each image a predictor
    of its own (``set_image``), kept in the returned embedding, and :meth:`predict` asks that
    predictor (``predict``), so several embeddings serve prompts in any order; the model is
    shared by all of them and runs one call at a time.

    Args:
        model: a built SAM 2 model (``sam2.build_sam.build_sam2``).
        new_predictor: makes an image predictor of ``model``
            (``lambda: SAM2ImagePredictor(model)``).
    """

    name = "sam2"

    def __init__(self, model: Any, new_predictor: Callable[[], Any]) -> None:
        self.model = model
        self._new_predictor = new_predictor
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        return self.model.device.type

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> ImageEmbedding:
        with self._lock:
            predictor = self._new_predictor()
            predictor.set_image(np.ascontiguousarray(image))
        return ImageEmbedding(size=tuple(image.shape[:2]), data=predictor)

    @torch.inference_mode()
    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        predictor = embedding.data
        mask_input = None
        if prompt.mask is not None:
            mask_input = sam2_mask_input(prompt.mask, self.model.image_size)
        multimask = prompt.box is None and prompt.mask is None
        with self._lock:
            logits, scores, _ = predictor.predict(
                point_coords=prompt.points,
                point_labels=prompt.labels,
                box=prompt.box,
                mask_input=mask_input,
                multimask_output=multimask,
                return_logits=True,
            )
        best, score = pick_best(np.asarray(logits), np.asarray(scores))
        threshold = float(predictor.mask_threshold)
        return Prediction(mask=best > threshold, score=float(np.clip(score, 0, 1)), logits=best)


def build_sam2_segmenter(
    *,
    checkpoint: str | Path | None = None,
    model_config: str | None = None,
    device: str = "auto",
    model_type: str | None = None,
    random_weights: bool = False,
) -> Sam2ImageSegmenter:
    """SAM 2 image segmenter from an official ``checkpoint``; ``random_weights=True``
    builds it without one (for tests).

    Args:
        checkpoint: official ``.pt`` file; its name tells the config when ``model_config``
            is not given.
        model_config: config inside the ``sam2`` package, e.g.
            ``configs/sam2.1/sam2.1_hiera_t.yaml``.
        device: ``auto``, ``cpu``, ``cuda``...
        model_type: accepted for symmetry with SAM (``--refiner-model``): taken as the config
            when it names a yaml file.
        random_weights: build without a checkpoint (tests only).

    Raises:
        CheckpointError: no checkpoint (and not ``random_weights``), or one that does not
            fit the config.
    """
    require_weights("sam2", checkpoint, random_weights=random_weights)
    from vosam.engines.sam2.build import config_for_checkpoint, sam2_hydra_scope

    if model_config is None and model_type and model_type.endswith(".yaml"):
        model_config = model_type
    check_file(checkpoint, "SAM 2")
    if model_config is None:
        model_config = config_for_checkpoint(checkpoint) if checkpoint else DEFAULT_CONFIG
    with sam2_hydra_scope():
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        model = build_sam2(model_config, ckpt_path=None, device="cpu")
    if checkpoint is not None:
        load_strict(model, checkpoint, what=f"SAM 2 {model_config}", unwrap="model")
    else:
        log.warning("sam2 %s built with random weights (asked for: tests only)", model_config)
    model = model.to(resolve_device(device)).eval()
    return Sam2ImageSegmenter(model, lambda: SAM2ImagePredictor(model))
