"""Propagation engines chosen by name: ``build_propagator("embedded", ...)``.

The names and builders live in :mod:`vosam.registry` (kind ``engine``); heavy backends
import their dependencies lazily so that ``import vosam`` works with the core install alone.
"""

from __future__ import annotations

from collections.abc import Callable

from vosam import registry
from vosam.engines.base import KeyFeatures, Propagator, StepResult, Tracker


def available_engines() -> tuple[str, ...]:
    """Names accepted by :func:`build_propagator`."""
    return tuple(sorted(registry.names("engine")))


def register_engine(
    name: str, target: str, *, config: str | None = None, takes_prompts: bool = False
) -> None:
    """Register ``"module:function"`` as the builder of engine ``name`` (``config``: the
    ``"module:Class"`` of its config; ``takes_prompts``: its trackers segment click/box
    prompts themselves)."""
    registry.register("engine", name, target, config=config, takes_prompts=takes_prompts)


def build_propagator(name: str, **kwargs: object) -> Propagator:
    """Build the engine called ``name`` (see :func:`available_engines`).

    Keyword arguments go to the engine's builder (``device``, ``checkpoint``, ``config``...).
    """
    builder: Callable[..., Propagator] = registry.load("engine", name)
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
