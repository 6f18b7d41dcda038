"""The SAM 2 engine: a loaded SAM 2 / SAM 2.1 model that makes streaming trackers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vosam.devices import resolve_device
from vosam.engines.base import KeyFeatures, Propagator
from vosam.engines.sam2.build import (
    build_model,
    config_for_checkpoint,
    load_weights,
    read_checkpoint,
)
from vosam.engines.sam2.config import SAM2Config
from vosam.engines.sam2.preprocess import prepare_image
from vosam.engines.sam2.tracker import SAM2Tracker
from vosam.errors import CheckpointError

log = logging.getLogger(__name__)


class SAM2Propagator(Propagator):
    """SAM 2 over a shared, read-only model; per-video memory lives in each tracker.

    Args:
        model: a ``SAM2Base`` built by :func:`vosam.engines.sam2.build.build_model`.
        config: tracker settings.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        model_config: the config name the model was built from (recorded for messages).
    """

    name = "sam2"

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        config: SAM2Config | None = None,
        device: str | torch.device = "auto",
        model_config: str = "",
    ) -> None:
        self.config = config or SAM2Config()
        self._device = resolve_device(device)
        self.model = model.to(self._device).eval()
        self.model_config = model_config

    @property
    def device(self) -> str:
        return self._device.type

    @property
    def image_size(self) -> int:
        """Side ``S`` of the square network input."""
        return int(self.model.image_size)

    def new_tracker(self, *, num_frames: int | None = None) -> SAM2Tracker:
        """Fresh per-video state; ``num_frames`` is the video's length when known."""
        return SAM2Tracker(self.model, self.config, self._device, num_frames=num_frames)

    def encode_key(self, image: np.ndarray) -> KeyFeatures:
        """The image encoder's top level ``float32 (256, S/16, S/16)`` of ``image``."""
        with torch.inference_mode():
            x = prepare_image(image, self.image_size, self._device)
            features = self.model.forward_image(x)["vision_features"]
        return KeyFeatures(features[0].float())


def build_sam2_engine(
    checkpoint: str | Path | None = None,
    device: str | torch.device = "auto",
    model_config: str | None = None,
    config: SAM2Config | None = None,
    overrides: Sequence[str] = (),
) -> SAM2Propagator:
    """Load an official SAM 2 / SAM 2.1 checkpoint strictly and return the engine.

    Args:
        checkpoint: e.g. ``sam2.1_hiera_tiny.pt`` (or ``sam2.1_hiera_t.pt``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        model_config: config inside the ``sam2`` package, e.g.
            ``configs/sam2.1/sam2.1_hiera_t.yaml``; inferred from the checkpoint's name
            when omitted.
        config: tracker settings.
        overrides: extra Hydra overrides of the model config.

    Raises:
        CheckpointError: no checkpoint, an unreadable one, an unknown model name, or
            weights that do not match the config.
    """
    if checkpoint is None:
        raise CheckpointError(
            None,
            "the sam2 engine needs its weights: pass --checkpoint sam2.1_hiera_tiny.pt "
            "(or _small, _base_plus, _large) from the SAM 2 releases",
        )
    state = read_checkpoint(checkpoint)
    model_config = model_config or config_for_checkpoint(checkpoint)
    model = build_model(model_config, overrides=overrides, device="cpu")
    load_weights(model, state, checkpoint, model_config=model_config)
    return SAM2Propagator(model, config=config, device=device, model_config=model_config)
