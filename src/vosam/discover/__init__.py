"""Unsupervised video object segmentation and refinement of video instance segmentation.

- :func:`discover_objects`: the prominent moving objects of a video as box trajectories,
  from motion (optical flow) and appearance (EfficientNet-Lite0 features) together;
- :func:`segment_trajectories`: masks of every frame from box trajectories (discovered or
  from any tracker), prompting a promptable segmenter and propagating for consistency;
- :func:`read_trajectories` / :func:`write_trajectories`: the trajectories JSON format;
- :func:`refine_vis`: YouTube-VIS results refined by a promptable segmenter.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "DiscoverConfig": "vosam.discover.config",
    "Discovery": "vosam.discover.pipeline",
    "discover_objects": "vosam.discover.pipeline",
    "segment_trajectories": "vosam.discover.segment",
    "frame_masks": "vosam.discover.segment",
    "link_detections": "vosam.discover.linking",
    "Trajectory": "vosam.discover.trajectories",
    "TrajectoryError": "vosam.discover.trajectories",
    "read_trajectories": "vosam.discover.trajectories",
    "write_trajectories": "vosam.discover.trajectories",
    "parse_trajectories": "vosam.discover.trajectories",
    "refine_vis": "vosam.discover.vis",
    "refine_vis_file": "vosam.discover.vis",
    "read_vis_videos": "vosam.discover.vis",
    "read_vis_results": "vosam.discover.vis",
    "VisRefineConfig": "vosam.discover.vis",
    "VisFormatError": "vosam.discover.vis",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vosam.discover' has no attribute {name!r}")
