"""The named models: official weights of every engine and segmenter that needs a download.

Each :class:`ModelEntry` says where the publisher serves the file, what it is called, the
digests the publisher states (none are invented: where none is published the SHA-256 is
recorded at the first download and checked on every later load, see :mod:`.cache`), the
model variant it needs (SAM's model type, SAM 2's config), its licence, and which backend of
:mod:`vosam.registry` runs it. A segmenter's models serve it both as the promptable
segmenter of ``vosam segment`` and as a refiner.

``VOSAM_CATALOGUE`` may name a JSON file ``{"models": [{...}, ...]}`` whose entries (the
fields of :class:`ModelEntry`) are added to the built-in ones or replace those of the same
name: a mirror inside a cluster, or a test server. This module imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vosam import registry
from vosam.errors import ModelError

__all__ = [
    "CATALOGUE_ENV",
    "ModelEntry",
    "ModelError",
    "catalogue",
    "check_backend",
    "lookup",
]

CATALOGUE_ENV = "VOSAM_CATALOGUE"
"""Environment variable naming a JSON file of extra or replacing entries."""

Kind = Literal["engine", "segmenter"]


@dataclass(frozen=True)
class ModelEntry:
    """One named model.

    Attributes:
        name: what users type (``--model xmem``, ``vosam models pull sam-vit-b``).
        kinds: what it serves as: ``engine`` and/or ``segmenter`` (a segmenter also
            serves as a refiner); SAM 2's models serve both.
        backend: the registry name of the engine and/or segmenter that loads it.
        url: the publisher's download address.
        file: the file name in the cache (the publisher's own name).
        licence: the licence the publisher gives the weights.
        config: the value of the backend's model-variant argument (SAM's ``model_type``,
            SAM 2's model config), or None when the backend reads the variant from the
            weights (XMem, Cutie).
        size: the file's size in bytes where the publisher states it, else None (recorded
            at the first download).
        sha256: the SHA-256 the publisher states, else None.
        md5: the MD5 the publisher states, else None.
        hf_repo: the Hugging Face repository serving the same model (``facebook/...``), so
            that the id can be given instead of the name.
        hf_file: the file's name in that repository.
        about: what distinguishes this model (training data, variant, published scores).
        source: where the address and digest were taken from.
    """

    name: str
    kinds: tuple[Kind, ...]
    backend: str
    url: str
    file: str
    licence: str
    config: str | None = None
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    hf_repo: str | None = None
    hf_file: str | None = None
    about: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if not self.kinds or not set(self.kinds) <= {"engine", "segmenter"}:
            raise ValueError(f"model {self.name}: kinds are engine and/or segmenter")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", self.file):
            raise ValueError(f"model {self.name}: {self.file!r} is not a plain file name")
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"model {self.name}: {self.url!r} is not an http(s) address")
        for algorithm, length in (("sha256", 64), ("md5", 32)):
            value = getattr(self, algorithm)
            if value is not None and not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
                raise ValueError(f"model {self.name}: {algorithm} {value!r} is not a hex digest")
        if (self.hf_repo is None) != (self.hf_file is None):
            raise ValueError(f"model {self.name}: hf_repo and hf_file go together")

    @property
    def published_digest(self) -> str | None:
        """``sha256:...`` or ``md5:...`` as the publisher states it, or None."""
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        return None

    def describe(self) -> str:
        """``engine xmem`` or ``segmenter sam (vit_b)``."""
        variant = f" ({self.config})" if self.config else ""
        return f"{'/'.join(self.kinds)} {self.backend}{variant}"


_XMEM = "https://github.com/hkchengrex/XMem/releases/download/v1.0/"
_XMEM_SOURCE = "hkchengrex/XMem docs/INFERENCE.md and docs/RESULTS.md (release v1.0)"
_SAM = "https://dl.fbaipublicfiles.com/segment_anything/"
_SAM_SOURCE = (
    "facebookresearch/segment-anything README; the name's 6 hex digits begin the MD5, "
    "the full MD5 as SysCV/sam-pt docs/03-prepare-checkpoints.md lists it"
)
_HQ = "https://huggingface.co/lkeab/hq-sam/resolve/"
_HQ_SOURCE = (
    "SysCV/sam-hq README (Hugging Face lkeab/hq-sam); address pinned to the commit and MD5 "
    "as SysCV/sam-pt docs/03-prepare-checkpoints.md gives them"
)
_SAM2 = "https://dl.fbaipublicfiles.com/segment_anything_2/"
_SAM2_SOURCE = "facebookresearch/sam2 checkpoints/download_ckpts.sh and README"
_CUTIE = "https://github.com/hkchengrex/Cutie/releases/download/v1.0/"

_BUILT_IN: tuple[ModelEntry, ...] = (
    ModelEntry(
        "xmem",
        ("engine",),
        "xmem",
        _XMEM + "XMem.pth",
        "XMem.pth",
        "MIT",
        about="XMem's default model (static images, DAVIS, YouTube-VOS); DAVIS-2017 val J&F 86.2",
        source=_XMEM_SOURCE,
    ),
    ModelEntry(
        "xmem-s012",
        ("engine",),
        "xmem",
        _XMEM + "XMem-s012.pth",
        "XMem-s012.pth",
        "MIT",
        about="XMem also trained on BL30K; DAVIS-2017 val J&F 87.7",
        source=_XMEM_SOURCE,
    ),
    ModelEntry(
        "xmem-no-sensory",
        ("engine",),
        "xmem",
        _XMEM + "XMem-no-sensory.pth",
        "XMem-no-sensory.pth",
        "MIT",
        about="XMem without sensory memory; DAVIS-2017 val J&F 85.1",
        source=_XMEM_SOURCE,
    ),
    *(
        ModelEntry(
            f"sam-{kind.replace('_', '-')}",
            ("segmenter",),
            "sam",
            _SAM + file,
            file,
            "Apache-2.0",
            config=kind,
            md5=md5,
            about=f"SAM ViT-{kind[-1].upper()} image encoder",
            source=_SAM_SOURCE,
        )
        for kind, file, md5 in (
            ("vit_b", "sam_vit_b_01ec64.pth", "01ec64d29a2fca3f0661936605ae66f8"),
            ("vit_l", "sam_vit_l_0b3195.pth", "0b3195507c641ddb6910d2bb5adee89c"),
            ("vit_h", "sam_vit_h_4b8939.pth", "4b8939a88964f0f4ff5f5b2642c598a6"),
        )
    ),
    *(
        ModelEntry(
            f"sam-hq-{kind.replace('_', '-')}",
            ("segmenter",),
            "sam-hq",
            f"{_HQ}{commit}/{file}",
            file,
            "Apache-2.0",
            config=kind,
            md5=md5,
            about=about,
            source=_HQ_SOURCE,
        )
        for kind, file, commit, md5, about in (
            (
                "vit_b",
                "sam_hq_vit_b.pth",
                "67ab82412bc794d5ce2e9799b8b6a3c0a8cfe1d2",
                "c6b8953247bcfdc8bb8ef91e36a6cacc",
                "HQ-SAM on SAM ViT-B",
            ),
            (
                "vit_l",
                "sam_hq_vit_l.pth",
                "67ab82412bc794d5ce2e9799b8b6a3c0a8cfe1d2",
                "08947267966e4264fb39523eccc33f86",
                "HQ-SAM on SAM ViT-L",
            ),
            (
                "vit_h",
                "sam_hq_vit_h.pth",
                "67ab82412bc794d5ce2e9799b8b6a3c0a8cfe1d2",
                "3560f6b6a5a6edacd814a1325c39640a",
                "HQ-SAM on SAM ViT-H",
            ),
            (
                "vit_tiny",
                "sam_hq_vit_tiny.pth",
                "a3a77cd0a2e5e50eaa76faccf61b964732d9b35f",
                "3a661ab92d4088ccd6232fa542998a65",
                "Light HQ-SAM (TinyViT encoder, needs timm)",
            ),
        )
    ),
    *(
        ModelEntry(
            f"{family}-hiera-{size.replace('_', '-')}",
            ("engine", "segmenter"),
            "sam2",
            f"{_SAM2}{folder}/{family}_hiera_{size}.pt",
            f"{family}_hiera_{size}.pt",
            "Apache-2.0",
            config=f"configs/{family}/{family}_hiera_{short}.yaml",
            hf_repo=f"facebook/{family}-hiera-{size.replace('_', '-')}",
            hf_file=f"{family}_hiera_{size}.pt",
            about=f"{'SAM 2.1' if family == 'sam2.1' else 'SAM 2'} Hiera-{size}, "
            f"{params} M parameters; SA-V test / MOSE val / LVOS v2 J&F {scores}",
            source=_SAM2_SOURCE,
        )
        for family, folder, size, short, params, scores in (
            ("sam2.1", "092824", "tiny", "t", "38.9", "76.5 / 71.8 / 77.3"),
            ("sam2.1", "092824", "small", "s", "46", "76.6 / 73.5 / 78.3"),
            ("sam2.1", "092824", "base_plus", "b+", "80.8", "78.2 / 73.7 / 78.2"),
            ("sam2.1", "092824", "large", "l", "224.4", "79.5 / 74.6 / 80.6"),
            ("sam2", "072824", "tiny", "t", "38.9", "75.0 / 70.9 / 75.3"),
            ("sam2", "072824", "small", "s", "46", "74.9 / 71.5 / 76.4"),
            ("sam2", "072824", "base_plus", "b+", "80.8", "74.7 / 72.8 / 75.8"),
            ("sam2", "072824", "large", "l", "224.4", "76.0 / 74.6 / 79.8"),
        )
    ),
    ModelEntry(
        "cutie-base-mega",
        ("engine",),
        "cutie",
        _CUTIE + "cutie-base-mega.pth",
        "cutie-base-mega.pth",
        "MIT",
        md5="a6071de6136982e396851903ab4c083a",
        about="Cutie base (ResNet-50), the largest training mix; the default of Cutie's code",
        source="hkchengrex/Cutie cutie/utils/download_models.py",
    ),
    ModelEntry(
        "cutie-small-mega",
        ("engine",),
        "cutie",
        _CUTIE + "cutie-small-mega.pth",
        "cutie-small-mega.pth",
        "MIT",
        about="Cutie small (ResNet-18), the largest training mix",
        source="hkchengrex/Cutie release v1.0 (no digest published)",
    ),
)


def built_in() -> dict[str, ModelEntry]:
    """The catalogue as shipped, without ``VOSAM_CATALOGUE``."""
    return {entry.name: entry for entry in _BUILT_IN}


def catalogue() -> dict[str, ModelEntry]:
    """Every known model by name: the built-in ones, then those of ``VOSAM_CATALOGUE``.

    Raises:
        ModelError: ``VOSAM_CATALOGUE`` names a file that is missing or malformed.
    """
    entries = built_in()
    path = os.environ.get(CATALOGUE_ENV)
    if path:
        entries.update(read_catalogue(path))
    return entries


def read_catalogue(path: str | Path) -> dict[str, ModelEntry]:
    """The entries of a catalogue file ``{"models": [{field: value}, ...]}``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the model catalogue ({exc})") from exc
    items = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise ModelError(f'{path}: a model catalogue is {{"models": [...]}}')
    fields = {f.name for f in dataclasses.fields(ModelEntry)}
    out: dict[str, ModelEntry] = {}
    for k, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise ValueError("an entry is an object")
            unknown = sorted(set(item) - fields)
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(unknown)}")
            entry = ModelEntry(**item)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{path}: model {k + 1}: {exc}") from exc
        out[entry.name] = entry
    return out


def lookup(name: str, entries: Mapping[str, ModelEntry] | None = None) -> tuple[ModelEntry, bool]:
    """The entry of ``name`` and whether it was given as a Hugging Face id.

    ``name`` is a catalogue name (``sam2.1-hiera-tiny``) or the Hugging Face id of one
    (``facebook/sam2.1-hiera-tiny``).

    Raises:
        ModelError: an unknown name (the message lists the known ones).
    """
    entries = catalogue() if entries is None else entries
    if name in entries:
        return entries[name], False
    for entry in entries.values():
        if entry.hf_repo is not None and entry.hf_repo == name:
            return entry, True
    if "/" in name:
        ids = sorted(e.hf_repo for e in entries.values() if e.hf_repo)
        raise ModelError(f"unknown Hugging Face id {name!r}; known ids: {', '.join(ids)}")
    raise ModelError(
        f"unknown model {name!r}; known models: {', '.join(entries)} "
        "(`vosam models list` describes them)"
    )


def check_backend(entry: ModelEntry, kind: Kind) -> None:
    """Fail unless ``entry`` serves as ``kind`` and this vosam has its backend.

    Raises:
        ModelError: a model of another kind (an engine's weights given to a segmenter),
            or a backend that is not registered (yet).
    """
    if kind not in entry.kinds:
        article = "an" if kind == "engine" else "a"
        raise ModelError(
            f"model {entry.name} is for the {entry.backend} {' and '.join(entry.kinds)}, "
            f"not {article} {kind}; `vosam models list` shows what each model serves as"
        )
    if entry.backend not in registry.names(kind):
        raise ModelError(
            f"model {entry.name} runs on the {entry.backend} {kind}, which this version of "
            f"vosam does not have (its {kind}s: {', '.join(registry.names(kind))})"
        )
