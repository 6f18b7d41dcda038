"""The embedded promptable segmenter (``build_segmenter("embedded")``): needs no download."""

from vosam.refine.embedded.config import EmbeddedSegmenterConfig
from vosam.refine.embedded.segmenter import EmbeddedSegmenter, build_embedded_segmenter

__all__ = ["EmbeddedSegmenter", "EmbeddedSegmenterConfig", "build_embedded_segmenter"]
