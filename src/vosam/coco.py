"""The one door to ``pycocotools``' mask API (RLE encoding, decoding, polygons).

It is an optional dependency (the ``eval`` extra): the YouTube-VIS reader, the VIS
evaluation and VIS refinement import it through :func:`mask_api` when they first need it,
and get the same error naming what to install when it is missing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["mask_api"]


def mask_api(purpose: str = "YouTube-VIS masks") -> Any:
    """``pycocotools.mask``.

    Raises:
        ImportError: pycocotools is not installed; the message says ``purpose`` needs it.
    """
    try:
        import pycocotools.mask as api
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"{purpose} need pycocotools: pip install pycocotools") from e
    return api
