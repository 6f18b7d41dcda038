"""Typed run specs: which engine, which refiner, on which device, with which run options.

A :class:`RunSpec` is everything that decides a run's masks, as frozen dataclasses:

- :class:`EngineSpec`: an engine of :mod:`vosam.registry` and its typed config (the
  engine's config class with some fields changed), its weights (a file, or a named model
  of :mod:`vosam.models`, fetched when built) and, for sam2, the model config;
- :class:`RefinerSpec`: a promptable segmenter, its weights (a file or a named model) and
  model variant, and how the propagated masks are refined
  (:class:`~vosam.refine.refiner.RefinerConfig`'s fields);
- the device and the run options (``permanent_memory``).

``to_dict()`` gives plain JSON values and ``from_dict()`` reads them back, refusing unknown
keys by name; the same dicts are a sweep file's runs, what a Ray worker receives and (with
:meth:`RunSpec.settings`) what ``run.json`` records. ``build()`` makes the models. This
module imports no model code: the CLI builds its parser from it without loading torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vosam import registry

__all__ = [
    "POINT_CONVERSIONS",
    "PROMPT_MODES",
    "REFINE_WHEN",
    "EngineSpec",
    "RefinerSpec",
    "RunSpec",
    "default_gate",
]

PROMPT_MODES = (
    "point",
    "bbox",
    "both",
    "both_neg",
    "mask",
    "mask_bbox",
    "mask_pos",
    "mask_bbox_pos",
    "mask_bbox_neg",
    "mask_bbox_pos_neg",
)
"""VOS-E-SAM's prompt modes (:data:`vosam.refine.prompts.MODES`)."""
POINT_CONVERSIONS = ("C", "CP", "CPS")
"""VOS-E-SAM's mask-to-point conversions (:data:`vosam.refine.prompts.POINT_CONVERSIONS`)."""
REFINE_WHEN = ("every", "vanishing")
"""Refine every frame and object, or only vanishing/degrading masks."""

SAM_GATE = 0.94
"""VOS-E-SAM's "optimized" gate on SAM's predicted IoU."""
DEFAULT_GATES: dict[str, float] = {"embedded": 0.6}
"""Gates of segmenters whose score is not SAM's predicted IoU. The embedded segmenter's
score (mask stability) stays below about 0.85 even on good masks (measured on
davis2016-train, benchmarks/bench_refine.py); 0.6 keeps its confident answers."""


def default_gate(segmenter: str) -> float:
    """The gate used when none is given: 0.94 for the SAM family, 0.6 for embedded."""
    return DEFAULT_GATES.get(segmenter, SAM_GATE)


def _strict(cls: type, data: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__} needs a table/object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)}; a {cls.__name__} takes {', '.join(keys)}"
        )


def _absolute(path: str | None) -> str | None:
    return str(Path(path).resolve()) if path else None


@dataclass(frozen=True)
class EngineSpec:
    """A propagation engine and its settings.

    Attributes:
        name: registry name (``embedded``, ``xmem``, ``sam2``); with a ``model`` it follows
            from the model (the default ``embedded`` is replaced by the model's engine).
        config: the engine's config (its registry config class), or None for its defaults.
        checkpoint: weights file for engines that need one (a path every worker can read).
        model_config: sam2 only: the model config inside the sam2 package
            (``configs/sam2.1/...yaml``; default: from the checkpoint's name).
        model: a named model of :mod:`vosam.models` (``xmem``, ``sam2.1-hiera-tiny``, a
            Hugging Face id) instead of ``checkpoint``: its file is fetched once into the
            cache and checked whenever the engine is built, and it sets the model config.
    """

    name: str = "embedded"
    config: Any = None
    checkpoint: str | None = None
    model_config: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.model is not None:
            object.__setattr__(self, "name", _engine_of(self.name, self.model))
            if self.checkpoint is not None:
                raise ValueError("give a named model or a checkpoint file, not both")
            if self.model_config:
                raise ValueError(f"model {self.model} sets its own model config")
        registry.entry("engine", self.name)
        if self.model_config and self.name != "sam2":
            raise ValueError("model_config is an option of the sam2 engine")
        if self.checkpoint is not None:
            object.__setattr__(self, "checkpoint", str(self.checkpoint))

    @classmethod
    def with_options(cls, name: str, options: Mapping[str, Any], **kwargs: Any) -> EngineSpec:
        """The engine ``name`` with ``options`` changing fields of its default config; a
        nested config takes a dict (``{"memory": {"top_k": 20}}``).

        Raises:
            ValueError: an engine without a config, or a field its config does not have.
        """
        if not options:
            return cls(name, **kwargs)
        config_cls = registry.config_class("engine", name)
        if config_cls is None:
            raise ValueError(f"engine {name!r} takes no config options")
        return cls(name, _with_options(config_cls(), dict(options)), **kwargs)

    def options(self) -> dict[str, Any]:
        """The fields of :attr:`config` that differ from the defaults (nested as dicts)."""
        if self.config is None:
            return {}
        return _changes(self.config, type(self.config)())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.name, "checkpoint": self.checkpoint}
        if self.model is not None:
            out["model"] = self.model
        options = self.options()
        if options:
            out["options"] = options
        if self.model_config:
            out["model_config"] = self.model_config
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineSpec:
        _strict(cls, data, _ENGINE_KEYS)
        options = data.get("options") or {}
        if not isinstance(options, Mapping):
            raise ValueError("'options' must be a table/object")
        name, model = data.get("engine", "embedded"), data.get("model")
        return cls.with_options(
            name if model is None else _engine_of(name, model),
            options,
            checkpoint=data.get("checkpoint"),
            model_config=data.get("model_config"),
            model=model,
        )

    def build(self, device: str = "auto") -> Any:
        """Build the :class:`~vosam.engines.Propagator` on ``device``."""
        kwargs: dict[str, Any] = {"device": device}
        if self.checkpoint is not None:
            kwargs["checkpoint"] = self.checkpoint
        if self.config is not None:
            kwargs["config"] = self.config
        if self.model_config:
            kwargs["model_config"] = self.model_config
        if self.model is not None:
            from vosam.models import builder_kwargs

            kwargs.update(builder_kwargs(self.model, "engine"))
        return registry.load("engine", self.name)(**kwargs)


_ENGINE_KEYS = ("engine", "checkpoint", "options", "model_config", "model")


def _engine_of(name: str, model: str) -> str:
    """The engine of named model ``model``; ``name`` (``embedded``, the default, means
    none was asked for) must be that engine otherwise."""
    from vosam.models.resolve import entry_for

    return entry_for(model, "engine", None if name == "embedded" else name).backend


@dataclass(frozen=True)
class RefinerSpec:
    """A promptable segmenter and how it refines propagated masks.

    Attributes:
        segmenter: registry name (``embedded``, ``sam``, ``sam-hq``, ``sam2``).
        checkpoint: its weights (the SAM family).
        model: its model variant, passed as the builder argument its registry entry names
            (``vit_h``/``vit_l``/``vit_b`` for SAM and HQ-SAM; a config YAML for SAM 2);
            None: the backend's default.
        prompt: prompt mode, one of :data:`PROMPT_MODES`.
        points: point conversion, one of :data:`POINT_CONVERSIONS`.
        gate: keep a refined mask only when its predicted quality reaches this; None
            becomes :func:`default_gate` of the segmenter.
        refine: ``every`` frame or only ``vanishing`` ones (:data:`REFINE_WHEN`).
        feedback: write accepted refined masks back into the engine's memory.
        weights: a named model of :mod:`vosam.models` (``sam-vit-b``,
            ``sam2.1-hiera-tiny``) for this segmenter, instead of ``checkpoint`` and
            ``model``: fetched once, checked whenever built, and it sets the variant.
    """

    segmenter: str
    checkpoint: str | None = None
    model: str | None = None
    prompt: str = "mask_bbox_pos_neg"
    points: str = "CP"
    gate: float | None = None
    refine: str = "every"
    feedback: bool = True
    weights: str | None = None

    def __post_init__(self) -> None:
        entry = registry.entry("segmenter", self.segmenter, noun="refiner")
        if self.weights is not None:
            from vosam.models.resolve import entry_for

            entry_for(self.weights, "segmenter", self.segmenter)
            if self.checkpoint is not None or self.model:
                raise ValueError(
                    f"model {self.weights} sets the weights and the variant; give no "
                    "checkpoint or model with it"
                )
        if self.model and entry.model_arg is None:
            raise ValueError(f"the {self.segmenter} refiner has no model variants to choose")
        for name, value, allowed in (
            ("prompt", self.prompt, PROMPT_MODES),
            ("points", self.points, POINT_CONVERSIONS),
            ("refine", self.refine, REFINE_WHEN),
        ):
            if value not in allowed:
                raise ValueError(f"{name} {value!r}: choose one of {', '.join(allowed)}")
        if self.gate is None:
            object.__setattr__(self, "gate", default_gate(self.segmenter))
        if not 0.0 <= self.gate <= 1.0:
            raise ValueError(f"the gate is a quality in [0, 1], got {self.gate}")
        if self.checkpoint is not None:
            object.__setattr__(self, "checkpoint", str(self.checkpoint))
        object.__setattr__(self, "gate", float(self.gate))

    def to_dict(self) -> dict[str, Any]:
        """The keys of ``run.json``'s ``refiner`` entry (``name`` is the segmenter)."""
        return {
            "name": self.segmenter,
            "checkpoint": self.checkpoint,
            "model": self.model,
            "prompt": self.prompt,
            "points": self.points,
            "gate": self.gate,
            "refine": self.refine,
            "feedback": self.feedback,
            **({"weights": self.weights} if self.weights is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RefinerSpec:
        keys = (
            "name",
            "checkpoint",
            "model",
            "prompt",
            "points",
            "gate",
            "refine",
            "feedback",
            "weights",
        )
        _strict(cls, data, keys)
        if "name" not in data:
            raise ValueError("a refiner needs a 'name'")
        given = {k: v for k, v in data.items() if k != "name" and v is not None}
        return cls(data["name"], **given)

    def segmenter_kwargs(self, device: str) -> dict[str, Any]:
        """The segmenter builder's arguments: device, weights and model variant (a named
        model's file is fetched here when it is not cached)."""
        kwargs: dict[str, Any] = {"device": device}
        if self.checkpoint is not None:
            kwargs["checkpoint"] = self.checkpoint
        if self.model:
            kwargs[registry.entry("segmenter", self.segmenter).model_arg] = self.model
        if self.weights is not None:
            from vosam.models import builder_kwargs

            kwargs.update(builder_kwargs(self.weights, "segmenter"))
        return kwargs

    def build_segmenter(self, device: str = "auto") -> Any:
        """The :class:`~vosam.refine.PromptableSegmenter` alone (``auto`` resolved)."""
        from vosam.devices import device_name

        builder = registry.load("segmenter", self.segmenter, noun="refiner")
        return builder(**self.segmenter_kwargs(device_name(device)))

    def build(self, device: str = "auto") -> Any:
        """The :class:`~vosam.refine.refiner.Refiner` on ``device``."""
        from vosam.refine.refiner import Refiner, RefinerConfig

        config = RefinerConfig(
            mode=self.prompt,
            points=self.points,
            gate=self.gate,
            refine=self.refine,
            feedback=self.feedback,
        )
        return Refiner(self.build_segmenter(device), config)


_RUN_KEYS = (
    "engine",
    "checkpoint",
    "options",
    "model_config",
    "model",
    "device",
    "permanent_memory",
)


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a run's masks.

    Attributes:
        engine: the propagation engine.
        refiner: refinement of the propagated masks, or None.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (engine and refiner).
        permanent_memory: keep every annotated frame in memory for the whole video
            (XMem++), see :class:`~vosam.session.SessionConfig`.
    """

    engine: EngineSpec = field(default_factory=EngineSpec)
    refiner: RefinerSpec | None = None
    device: str = "auto"
    permanent_memory: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON values: the engine's keys, ``device``, ``permanent_memory`` and, with a
        refiner, ``refiner``."""
        out = {**self.engine.to_dict(), "device": self.device}
        out["permanent_memory"] = self.permanent_memory
        if self.refiner is not None:
            out["refiner"] = self.refiner.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Read :meth:`to_dict`'s layout (a sweep file's run); missing keys take defaults.

        Raises:
            ValueError: an unknown key (named), an unknown engine or refiner, a field its
                config does not have.
        """
        _strict(cls, data, (*_RUN_KEYS, "refiner"))
        refiner = data.get("refiner")
        return cls(
            engine=EngineSpec.from_dict({k: data[k] for k in _ENGINE_KEYS if k in data}),
            refiner=RefinerSpec.from_dict(refiner) if refiner else None,
            device=str(data.get("device", "auto")),
            permanent_memory=bool(data.get("permanent_memory", True)),
        )

    def settings(self) -> dict[str, Any]:
        """What ``run.json`` records of the spec (the device is added by the caller, as
        the device the run resolved to): :meth:`to_dict` without ``device``, weights as
        absolute paths."""
        out = self.to_dict()
        del out["device"]
        out["checkpoint"] = _absolute(self.engine.checkpoint)
        if self.refiner is not None:
            out["refiner"]["checkpoint"] = _absolute(self.refiner.checkpoint)
        return out

    def build(self) -> Any:
        """Build the engine's :class:`~vosam.engines.Propagator` on :attr:`device`."""
        return self.engine.build(self.device)

    def build_refiner(self, *, device: str | None = None) -> Any:
        """The :class:`~vosam.refine.refiner.Refiner`, or None without one.

        ``device``: where it runs (default: :attr:`device`); a worker passes its engine's.
        """
        if self.refiner is None:
            return None
        return self.refiner.build(self.device if device is None else device)


def _with_options(config: Any, options: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for key, value in options.items():
        if key not in known:
            raise ValueError(
                f"{type(config).__name__} has no field {key!r}; fields: {', '.join(sorted(known))}"
            )
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            value = _with_options(current, dict(value))
        elif isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        changes[key] = value
    return dataclasses.replace(config, **changes)


def _changes(config: Any, default: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value, base = getattr(config, f.name), getattr(default, f.name)
        if value == base:
            continue
        if dataclasses.is_dataclass(value) and dataclasses.is_dataclass(base):
            out[f.name] = _changes(value, base)
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
