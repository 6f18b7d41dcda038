"""The embedded engine: needs no download, runs on CPU, uses CUDA when present."""

from __future__ import annotations

import logging

import numpy as np

from vosam.devices import resolve_device
from vosam.engines.base import KeyFeatures, Propagator
from vosam.engines.embedded.config import EmbeddedConfig
from vosam.engines.embedded.features import FeatureExtractor
from vosam.engines.embedded.tracker import EmbeddedTracker

log = logging.getLogger(__name__)


class EmbeddedPropagator(Propagator):
    """Frozen EfficientNet-Lite0 features + memory readout + an online per-video head."""

    name = "embedded-v1"

    def __init__(self, config: EmbeddedConfig | None = None, *, device: str = "auto") -> None:
        self.config = config or EmbeddedConfig()
        self._device = resolve_device(device)
        self.extractor = FeatureExtractor(
            self._device, self.config.short_side, max_long_side=self.config.max_long_side
        )
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
    """Registry builder: ``build_propagator("embedded-v1", device=..., config=...)``."""
    if unused.get("checkpoint"):
        raise ValueError("the embedded engine takes no checkpoint: its weights ship with it")
    return EmbeddedPropagator(config, device=device)
