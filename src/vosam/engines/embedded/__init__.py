"""Embedded engine: frozen ImageNet features, memory readout and an online head."""

from vosam.engines.embedded.config import EmbeddedConfig
from vosam.engines.embedded.propagator import EmbeddedPropagator, build_embedded

__all__ = ["EmbeddedConfig", "EmbeddedPropagator", "build_embedded"]
