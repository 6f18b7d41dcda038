"""Which segmenters need weights, and where their official files come from.

A segmenter with named models in :mod:`vosam.models` (sam, sam-hq, sam2) needs weights:
built without them it would have random ones and turn every prompt into noise. It is built
without weights only when random ones are asked for (``random_weights=True``, in tests).
This module reads the catalogue only: it imports nothing heavy.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from vosam.errors import CheckpointError

__all__ = ["official_weights", "require_weights"]


def official_weights(segmenter: str) -> str | None:
    """A phrase naming the models of ``segmenter`` in the catalogue and where their files
    come from (``sam-vit-b, sam-vit-l or sam-vit-h: the official files from
    dl.fbaipublicfiles.com``), or None when it needs no weights (``embedded``)."""
    from vosam.models.catalogue import catalogue

    entries = [e for e in catalogue().values() if "segmenter" in e.kinds and e.backend == segmenter]
    if not entries:
        return None
    names = [e.name for e in entries]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    hosts = sorted({urlsplit(e.url).netloc for e in entries})
    return f"{listed}: the official files from {', '.join(hosts)}, fetched once"


def require_weights(segmenter: str, checkpoint: object, *, random_weights: bool = False) -> None:
    """Refuse to build ``segmenter`` without its ``checkpoint`` unless ``random_weights``.

    Raises:
        CheckpointError: naming the official models to use instead.
    """
    if checkpoint is not None or random_weights:
        return
    where = official_weights(segmenter)
    if where is not None:
        raise CheckpointError(
            None,
            f"the {segmenter} segmenter needs its weights: give a checkpoint or a named model "
            f"({where})",
        )
