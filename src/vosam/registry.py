"""Every backend chosen by name: engines, segmenters, dataset formats and executors.

One table per kind maps a name to the ``module:attribute`` of its builder (or reader, or
class) and, where it has one, the ``module:Class`` of its typed config. Nothing is imported
until a backend is used, so listing names (``vosam --help``) loads no model code. A new
backend is a new module plus one :func:`register` call.

| kind | builder called as |
|---|---|
| ``engine`` | ``builder(device=..., checkpoint=..., config=..., model_config=...)`` |
| ``segmenter`` | ``builder(device=..., checkpoint=..., <model_arg>=...)`` |
| ``format`` | ``reader(root, split=..., names=..., **options)`` |
| ``executor`` | ``Class(**options)`` |
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal

__all__ = ["KINDS", "Entry", "config_class", "entry", "load", "names", "register"]

Kind = Literal["engine", "segmenter", "format", "executor"]
KINDS: tuple[Kind, ...] = ("engine", "segmenter", "format", "executor")

# how a kind is named in "unknown ..." errors
_NOUNS = {
    "engine": "engine",
    "segmenter": "segmenter",
    "format": "dataset format",
    "executor": "executor",
}


@dataclass(frozen=True)
class Entry:
    """One backend.

    Attributes:
        name: the name users type (``--engine xmem``).
        target: ``module:attribute`` of its builder, reader or class.
        config: ``module:Class`` of the frozen dataclass configuring it, or None when it
            takes no config.
        model_arg: segmenters only: the builder's argument that picks a model variant
            (``model_type`` for SAM's ``vit_h``, ``model_config`` for SAM 2's YAML), or
            None when there is no choice.
        takes_prompts: engines only: its trackers segment click/box prompts themselves
            (:attr:`vosam.engines.base.Tracker.takes_prompts`), known without loading it.
    """

    name: str
    target: str
    config: str | None = None
    model_arg: str | None = None
    takes_prompts: bool = False

    def load(self) -> Any:
        """Import and return the builder."""
        return _attribute(self.target)

    def config_class(self) -> type | None:
        """Import and return the config class, or None."""
        return None if self.config is None else _attribute(self.config)


_TABLES: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}


def register(
    kind: Kind,
    name: str,
    target: str,
    *,
    config: str | None = None,
    model_arg: str | None = None,
    takes_prompts: bool = False,
) -> None:
    """Add (or replace) backend ``name`` of ``kind``; ``target`` and ``config`` are
    ``module:attribute`` strings, imported only when the backend is used."""
    if kind not in _TABLES:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if ":" not in target:
        raise ValueError(f"target {target!r} is not 'module:attribute'")
    _TABLES[kind][name] = Entry(name, target, config, model_arg, takes_prompts)


def names(kind: Kind) -> tuple[str, ...]:
    """The registered names of ``kind``, in the order they were registered."""
    return tuple(_TABLES[kind])


def entry(kind: Kind, name: str, *, noun: str | None = None) -> Entry:
    """The backend ``name`` of ``kind``.

    Raises:
        ValueError: an unknown name (the message lists the known ones; ``noun`` names the
            kind in it, e.g. ``refiner``).
    """
    table = _TABLES[kind]
    if name not in table:
        raise ValueError(
            f"unknown {noun or _NOUNS[kind]} {name!r}; choose one of {', '.join(names(kind))}"
        )
    return table[name]


def load(kind: Kind, name: str, *, noun: str | None = None) -> Any:
    """Import and return the builder of ``name`` (see :func:`entry`)."""
    return entry(kind, name, noun=noun).load()


def config_class(kind: Kind, name: str) -> type | None:
    """The config class of ``name``, or None when it takes no config."""
    return entry(kind, name).config_class()


def _attribute(target: str) -> Any:
    module, attr = target.split(":")
    return getattr(import_module(module), attr)


for _name, _target, _config in (
    ("embedded", "fused.propagator:build_fused", "fused.config:FusedConfig"),
    ("embedded-v1", "embedded.propagator:build_embedded", "embedded.config:EmbeddedConfig"),
    ("xmem", "xmem.propagator:build_xmem", "xmem.config:XMemConfig"),
    ("cutie", "cutie.propagator:build_cutie", "cutie.config:CutieConfig"),
    ("sam2", "sam2.propagator:build_sam2_engine", "sam2.config:SAM2Config"),
):
    register(
        "engine",
        _name,
        f"vosam.engines.{_target}",
        config=f"vosam.engines.{_config}",
        takes_prompts=_name == "sam2",
    )

register(
    "segmenter",
    "embedded",
    "vosam.refine.embedded:build_embedded_segmenter",
    config="vosam.refine.embedded.config:EmbeddedSegmenterConfig",
)
for _name, _target, _model_arg in (
    ("sam", "sam:build_sam_segmenter", "model_type"),
    ("sam-hq", "sam:build_sam_hq_segmenter", "model_type"),
    ("sam2", "sam2_image:build_sam2_segmenter", "model_config"),
):
    register("segmenter", _name, f"vosam.refine.{_target}", model_arg=_model_arg)

for _name, _target in (
    ("davis", "davis:read_davis"),
    ("youtube-vos", "youtube_vos:read_youtube_vos"),
    ("lvos", "lvos:read_lvos"),
    ("long-video", "long_video:read_long_video"),
    ("youtube-vis", "youtube_vis:read_youtube_vis"),
):
    register("format", _name, f"vosam.datasets.{_target}")

register("executor", "local", "vosam.distributed.local:LocalExecutor")
register(
    "executor",
    "ray",
    "vosam.distributed.ray_backend:RayExecutor",
    config="vosam.distributed.ray_backend:RayOptions",
)
