"""Propagation engines chosen by name: ``build_propagator("embedded", ...)``.

The names and builders live in :mod:`vosam.registry` (kind ``engine``); heavy backends
import their dependencies lazily so that ``import vosam`` works with the core install alone.
"""

from __future__ import annotations

from collections.abc import Callable

from vosam import registry
from vosam.engines.base import KeyFeatures, Propagator, StepResult, Tracker
from vosam.errors import ModelError


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


def build_propagator(
    name: str | None = None, *, model: str | None = None, **kwargs: object
) -> Propagator:
    """Build the engine called ``name`` (see :func:`available_engines`).

    ``model``: a named model of :mod:`vosam.models` (``xmem``, ``sam2.1-hiera-tiny``, a
    Hugging Face id such as ``facebook/sam2.1-hiera-tiny``), fetched once into the cache and
    checked before loading; it gives the engine (``name`` may be left out), the checkpoint
    and, for SAM 2, the model config. Other keyword arguments go to the engine's builder
    (``device``, ``checkpoint``, ``config``...).

    Raises:
        ModelError: an unknown model, or one another engine runs.
    """
    if model is not None:
        from vosam.models import builder_kwargs, entry_for

        if "checkpoint" in kwargs:
            raise ModelError("give a named model or a checkpoint file, not both")
        name = entry_for(model, "engine", name).backend
        kwargs.update(builder_kwargs(model, "engine"))
    builder: Callable[..., Propagator] = registry.load("engine", name or "embedded")
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
