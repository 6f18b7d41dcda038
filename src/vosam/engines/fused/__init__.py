"""The fused embedded engine: correspondence, motion and a re-detecting appearance model
over frozen EfficientNet-Lite0 features, on a CPU with no download (see :mod:`.tracker`)."""

from vosam.engines.fused.config import FusedConfig
from vosam.engines.fused.propagator import FusedPropagator, build_fused

__all__ = ["FusedConfig", "FusedPropagator", "build_fused"]
