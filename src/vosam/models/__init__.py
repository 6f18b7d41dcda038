"""Named models: the official weights of the engines and segmenters, fetched once and
checked before every load.

``resolve("xmem", "engine")`` gives the checked file of a catalogue name (downloading it
into the cache the first time); ``catalogue()`` lists every known model. The catalogue, the
cache and the downloader are small modules of their own; none imports torch.
"""

from __future__ import annotations

from vosam.models.cache import cache_root, model_path, models_dir
from vosam.models.catalogue import ModelEntry, catalogue, check_backend, lookup
from vosam.models.resolve import (
    Weights,
    builder_kwargs,
    ensure,
    entry_for,
    resolve,
    status,
)

__all__ = [
    "ModelEntry",
    "Weights",
    "builder_kwargs",
    "cache_root",
    "catalogue",
    "check_backend",
    "ensure",
    "entry_for",
    "lookup",
    "model_path",
    "models_dir",
    "resolve",
    "status",
]
