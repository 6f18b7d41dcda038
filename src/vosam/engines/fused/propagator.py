"""The fused embedded engine: needs no download, runs on CPU, uses CUDA when present."""

from __future__ import annotations

import logging

import numpy as np

from vosam.devices import resolve_device
from vosam.engines.base import KeyFeatures, Propagator
from vosam.engines.embedded.features import FeatureExtractor
from vosam.engines.fused.config import FusedConfig
from vosam.engines.fused.parent import parent_weight
from vosam.engines.fused.tracker import FusedTracker

log = logging.getLogger(__name__)


class FusedPropagator(Propagator):
    """Frozen EfficientNet-Lite0 features; per video, local label propagation
    and a re-detecting appearance model (see :mod:`vosam.engines.fused.tracker`)."""

    name = "embedded"

    def __init__(
        self,
        config: FusedConfig | None = None,
        *,
        device: str = "auto",
        checkpoint: str | None = None,
    ) -> None:
        self.config = config or FusedConfig()
        self._device = resolve_device(device)
        self.extractor = FeatureExtractor(
            self._device, self.config.short_side, max_long_side=self.config.max_long_side
        )
        self.parent = parent_weight(checkpoint if checkpoint is not None else self.config.parent)
        log.debug("fused engine on %s with %s", self._device, self.config)

    @property
    def device(self) -> str:
        return self._device.type

    def new_tracker(self) -> FusedTracker:
        parent = None if self.parent is None else self.parent.to(self._device)
        return FusedTracker(self.extractor, self.config, parent)

    def encode_key(self, image: np.ndarray) -> KeyFeatures:
        return KeyFeatures(key=self.extractor(image).key)


def build_fused(
    *,
    config: FusedConfig | None = None,
    device: str = "auto",
    checkpoint: str | None = None,
    **unused: object,
) -> FusedPropagator:
    """Registry builder: ``build_propagator("embedded", device=..., config=...,
    checkpoint=...)``; ``checkpoint`` is a parent model made by ``vosam train``."""
    return FusedPropagator(config, device=device, checkpoint=checkpoint)
