"""vosam: video object segmentation that keeps masks from vanishing on long videos.

The public API is imported lazily so that ``import vosam`` stays light::

    from vosam import Session, build_propagator
    from vosam import RunSpec  # engine + refiner + device, to_dict()/from_dict(), build()
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from vosam.threads import limit_blas_threads

__version__ = "0.1.0"

limit_blas_threads()  # numpy's BLAS beside torch: see vosam.threads

_LAZY = {
    "Session": "vosam.session",
    "SessionConfig": "vosam.session",
    "Prompt": "vosam.types",
    "Order": "vosam.playback",
    "Step": "vosam.playback",
    "RunSpec": "vosam.spec",
    "EngineSpec": "vosam.spec",
    "RefinerSpec": "vosam.spec",
    "build_propagator": "vosam.engines",
    "available_engines": "vosam.engines",
    "build_segmenter": "vosam.refine",
    "Refiner": "vosam.refine.refiner",
    "RefinerConfig": "vosam.refine.refiner",
    "evaluate_dataset": "vosam.eval",
    "evaluate_sequence": "vosam.eval",
    "evaluate_vis": "vosam.eval",
    "EmbeddedConfig": "vosam.engines.embedded",
    "FusedConfig": "vosam.engines.fused",
    "open_source": "vosam.io",
    "read_annotations": "vosam.io",
    "read_mask": "vosam.io",
    "write_mask": "vosam.io",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vosam' has no attribute {name!r}")
