"""vosam: video object segmentation that keeps masks from vanishing on long videos."""

from __future__ import annotations

__version__ = "0.1.0"
