"""From a model's name to a checked file on disk, fetched once.

:func:`ensure` returns the cached file of a catalogue name after checking it (see
:func:`vosam.models.cache.check_file`), downloading it first when it is missing: into
``NAME.part`` under a lock (so concurrent pulls of one model wait for each other instead of
writing the same file), resumable, checked, then renamed into place. A Hugging Face id
(``facebook/sam2.1-hiera-tiny``) goes through ``huggingface_hub`` and its own cache; vosam
records the file's SHA-256 the first time and checks it on every later load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vosam import registry
from vosam.errors import CheckpointError, DownloadError, ModelError
from vosam.models.cache import check_file, locked, model_path, models_dir, part_path
from vosam.models.catalogue import Kind, ModelEntry, check_backend, lookup
from vosam.models.download import fetch

log = logging.getLogger(__name__)

__all__ = ["Weights", "builder_kwargs", "ensure", "entry_for", "resolve", "status"]


@dataclass(frozen=True)
class Weights:
    """A model resolved to its checked file.

    Attributes:
        entry: the catalogue entry.
        path: the checked file.
    """

    entry: ModelEntry
    path: Path

    @property
    def config(self) -> str | None:
        """The backend's model-variant argument (SAM's model type, SAM 2's config)."""
        return self.entry.config


def resolve(
    name: str,
    kind: Kind,
    *,
    download: bool = True,
    progress: bool = True,
    entries: Mapping[str, ModelEntry] | None = None,
) -> Weights:
    """The checked weights of model ``name`` for a ``kind`` (``engine`` or ``segmenter``).

    Raises:
        ModelError: an unknown name, a model of another kind, or one whose backend this
            vosam lacks.
        DownloadError, CheckpointError: see :func:`ensure`.
    """
    entry, _ = lookup(name, entries)
    check_backend(entry, kind)
    return Weights(entry, ensure(name, download=download, progress=progress, entries=entries))


def entry_for(model: str, kind: Kind, backend: str | None = None) -> ModelEntry:
    """The entry of ``model`` checked for use as a ``kind``, without fetching anything.

    ``backend``: the engine or segmenter asked for alongside the model, if any; it must be
    the one the model runs on.

    Raises:
        ModelError: an unknown name, a model of another kind or backend, or a backend this
            vosam lacks.
    """
    entry, _ = lookup(model)
    if backend is not None and backend != entry.backend:
        raise ModelError(
            f"model {model} runs on the {entry.backend} {kind}, not on {backend}; "
            f"leave the {kind} out, it follows from the model"
        )
    check_backend(entry, kind)
    return entry


def builder_kwargs(model: str, kind: Kind, *, progress: bool = True) -> dict[str, str]:
    """The arguments a ``kind``'s builder takes for model ``model``: ``checkpoint`` (the
    checked file, fetched first when missing) and, when the model needs one, its variant
    under the name the registry gives it (``model_config`` for SAM 2, ``model_type`` for
    SAM)."""
    entry = entry_for(model, kind)
    kwargs = {"checkpoint": str(ensure(model, progress=progress))}
    if entry.config is not None:
        arg = "model_config" if kind == "engine" else registry.entry(kind, entry.backend).model_arg
        if arg is not None:
            kwargs[arg] = entry.config
    return kwargs


def ensure(
    name: str,
    *,
    download: bool = True,
    progress: bool = True,
    entries: Mapping[str, ModelEntry] | None = None,
    retries: int = 5,
    wait: float = 1.0,
) -> Path:
    """The checked file of model ``name`` (a catalogue name or a Hugging Face id),
    downloaded first when it is not cached.

    Args:
        download: fetch a missing file (False: a missing file is an error).
        progress: show the download's progress on stderr.
        entries: the catalogue (default: :func:`vosam.models.catalogue.catalogue`).
        retries, wait: see :func:`vosam.models.download.fetch`.

    Raises:
        ModelError: an unknown name.
        DownloadError: the file is missing and cannot be fetched (the message names the
            address and where to place the file by hand).
        CheckpointError: the cached or downloaded file is damaged (never loaded).
    """
    entry, via_hub = lookup(name, entries)
    if via_hub:
        return _from_hub(entry, name)
    path = model_path(entry)
    if path.is_file():
        check_file(entry, path)
        return path
    if not download:
        raise DownloadError(f"model {entry.name} is not cached; {_by_hand(entry, path, entry.url)}")
    with locked(path):
        if path.is_file():  # another process fetched it while this one waited
            log.info("%s: fetched by another process", path)
            check_file(entry, path)
            return path
        part = part_path(path)
        if part.exists():
            log.info("%s: resuming an interrupted download", part)
        try:
            fetch(
                entry.url,
                part,
                label=entry.name,
                progress=progress,
                retries=retries,
                wait=wait,
            )
        except DownloadError as exc:
            raise DownloadError(f"{exc}; {_by_hand(entry, path, 'it')}") from exc
        try:
            check_file(entry, part, record_at=path, origin="downloaded")
        except CheckpointError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, path)
    log.info("model %s saved to %s", entry.name, path)
    return path


def _by_hand(entry: ModelEntry, path: Path, what: str) -> str:
    return (
        f"without a network, fetch {what} elsewhere and place it at {path} "
        f"(`vosam models path {entry.name}` prints where)"
    )


def _from_hub(entry: ModelEntry, repo: str) -> Path:
    """The file of ``entry`` from the Hugging Face repository ``repo``, through
    ``huggingface_hub`` (its cache, its offline mode), checked against vosam's record."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise DownloadError(
            f"{repo} is a Hugging Face id: install huggingface_hub (it comes with the sam2 "
            f"extra: pip install 'vosam[sam2]'), or use the model's name {entry.name}"
        ) from exc
    url = f"https://huggingface.co/{repo}/resolve/main/{entry.hf_file}"
    try:
        local = Path(hf_hub_download(repo_id=repo, filename=entry.hf_file))
    except Exception as exc:  # huggingface_hub raises many kinds: offline, HTTP, disk
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DownloadError(
            f"cannot fetch {url} ({type(exc).__name__}: {first}); with the model's name "
            f"{entry.name} instead, {_by_hand(entry, model_path(entry), entry.url)}"
        ) from exc
    record_at = models_dir() / "huggingface" / repo / entry.hf_file
    record_at.parent.mkdir(parents=True, exist_ok=True)
    check_file(entry, local, record_at=record_at)
    return local


def status(entry: ModelEntry) -> tuple[str, int | None]:
    """What the cache holds of ``entry``: (``cached``, size), (``partial``, bytes so far)
    or (``-``, None). Reads no file's content."""
    path = model_path(entry)
    if path.is_file():
        return "cached", path.stat().st_size
    part = part_path(path)
    if part.is_file():
        return "partial", part.stat().st_size
    return "-", None
