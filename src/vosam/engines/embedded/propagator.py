"""The embedded engine: needs no download, runs on CPU, uses CUDA when present."""

from __future__ import annotations

import logging

import numpy as np
import torch

from vosam.engines.base import KeyFeatures, Propagator
from vosam.engines.embedded.config import EmbeddedConfig
from vosam.engines.embedded.features import FeatureExtractor
from vosam.engines.embedded.tracker import EmbeddedTracker

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None → CUDA when available, else CPU; anything else as given."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class EmbeddedPropagator(Propagator):
    """Frozen EfficientNet-Lite0 features + memory readout + an online per-video head."""

    name = "embedded"

    def __init__(self, config: EmbeddedConfig | None = None, *, device: str = "auto") -> None:
        self.config = config or EmbeddedConfig()
        self._device = resolve_device(device)
        self.extractor = FeatureExtractor(self._device, self.config.short_side)
        log.debug("embedded engine on %s with %s", self._device, self.config)

    @property
    def device(self) -> str:
        return self._device.type

    def new_tracker(self) -> EmbeddedTracker:
        return EmbeddedTracker(self.extractor, self.config)

    def encode_key(self, image: np.ndarray) -> KeyFeatures:
        return KeyFeatures(key=self.extractor(image).key)


def build_embedded(
    *, config: EmbeddedConfig | None = None, device: str = "auto", **unused: object
) -> EmbeddedPropagator:
    """Registry builder: ``build_propagator("embedded", device=..., config=...)``."""
    if unused.get("checkpoint"):
        raise ValueError("the embedded engine takes no checkpoint: its weights ship with it")
    return EmbeddedPropagator(config, device=device)
