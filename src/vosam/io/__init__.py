"""Reading and writing what vosam works on: frames, masks, overlays; all writes atomic.

- frame sources (:class:`FolderSource`, :class:`VideoSource`, :class:`StreamSource` for
  live streams, :func:`open_source`) stream ``uint8 (H, W, 3)`` RGB frames with stable names;
- masks (:func:`read_mask`, :func:`write_mask`, :func:`read_annotations`) are
  ``uint8 (H, W)`` object ids stored as DAVIS-palette PNGs;
- overlays (:func:`overlay`, :class:`OverlayVideoWriter`) show masks over frames.
"""

from __future__ import annotations

from vosam.io.atomic import atomic_path, atomic_save_png, atomic_write, atomic_write_text
from vosam.io.frames import (
    FRAME_MAP_NAME,
    FolderSource,
    FrameSource,
    open_source,
    write_frame_map,
)
from vosam.io.masks import (
    DAVIS_COLORS,
    DAVIS_PALETTE,
    VOID_ID,
    annotation_files,
    frame_matcher,
    palette_image,
    read_annotations,
    read_mask,
    require_objects,
    write_mask,
)
from vosam.io.overlay import OverlayVideoWriter, overlay, save_overlay_png
from vosam.io.stream import StreamSource, is_stream
from vosam.io.video import VideoSource
from vosam.names import natural_key, natural_sorted

__all__ = [
    "DAVIS_COLORS",
    "DAVIS_PALETTE",
    "FRAME_MAP_NAME",
    "VOID_ID",
    "FolderSource",
    "FrameSource",
    "OverlayVideoWriter",
    "StreamSource",
    "VideoSource",
    "annotation_files",
    "atomic_path",
    "atomic_save_png",
    "atomic_write",
    "atomic_write_text",
    "frame_matcher",
    "is_stream",
    "natural_key",
    "natural_sorted",
    "open_source",
    "overlay",
    "palette_image",
    "read_annotations",
    "read_mask",
    "require_objects",
    "save_overlay_png",
    "write_frame_map",
    "write_mask",
]
