"""Propagation engines chosen by name: ``build_propagator("embedded", ...)``.

Each backend registers a builder here; heavy ones import their dependencies lazily so that
``import vosam`` works with the core install alone.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from vosam.engines.base import KeyFeatures, Propagator, StepResult, Tracker

# name -> "module:function" building a Propagator from keyword arguments
_BUILDERS: dict[str, str] = {
    "embedded": "vosam.engines.embedded.propagator:build_embedded",
    "xmem": "vosam.engines.xmem.propagator:build_xmem",
    "sam2": "vosam.engines.sam2.propagator:build_sam2_engine",
}


def available_engines() -> tuple[str, ...]:
    """Names accepted by :func:`build_propagator`."""
    return tuple(sorted(_BUILDERS))


def register_engine(name: str, target: str) -> None:
    """Register ``"module:function"`` as the builder of engine ``name``."""
    _BUILDERS[name] = target


def build_propagator(name: str, **kwargs: object) -> Propagator:
    """Build the engine called ``name`` (see :func:`available_engines`).

    Keyword arguments go to the engine's builder (``device``, ``checkpoint``, ``config``...).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(available_engines())}")
    module, func = _BUILDERS[name].split(":")
    builder: Callable[..., Propagator] = getattr(import_module(module), func)
    return builder(**kwargs)


__all__ = [
    "KeyFeatures",
    "Propagator",
    "StepResult",
    "Tracker",
    "available_engines",
    "build_propagator",
    "register_engine",
]
