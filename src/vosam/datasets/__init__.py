"""Readers of published dataset layouts, and writers of their official result layouts.

One module per format, each a function ``read(root, *, split=None, names=None)`` returning
:class:`~vosam.datasets.base.DatasetSequence` descriptions; choose one by name with
:func:`open_dataset`. :func:`~vosam.datasets.runner.segment_sequence` segments a sequence
and writes its results where the format's evaluation expects them.

| name | module |
|---|---|
| ``davis`` | :mod:`vosam.datasets.davis` (2016: 0/255 masks, 2017: palettes) |
| ``youtube-vos`` | :mod:`vosam.datasets.youtube_vos` (2018, 2019) |
| ``lvos`` | :mod:`vosam.datasets.lvos` (v1, v2) |
| ``long-video`` | :mod:`vosam.datasets.long_video` (Long-time Video, ×3 protocol) |
| ``youtube-vis`` | :mod:`vosam.datasets.youtube_vis` (YouTube-VIS 2019/2021, OVIS) |
"""

from __future__ import annotations

from pathlib import Path

from vosam import registry
from vosam.datasets.base import AnnotationInput, DatasetSequence, LayoutMismatch

__all__ = [
    "AnnotationInput",
    "DatasetSequence",
    "LayoutMismatch",
    "available_formats",
    "open_dataset",
]


def available_formats() -> tuple[str, ...]:
    """Names accepted by :func:`open_dataset` (:mod:`vosam.registry`, kind ``format``)."""
    return registry.names("format")


def open_dataset(
    fmt: str,
    root: str | Path,
    *,
    split: str | None = None,
    names: list[str] | None = None,
    **options: object,
) -> list[DatasetSequence]:
    """The sequences of ``root`` read as format ``fmt`` (see the table above).

    ``options`` go to the format's reader (``davis``: ``resolution``, default ``480p``).

    Raises:
        ValueError: an unknown format name.
        LayoutMismatch: ``root`` is not in that format's layout (the message lists what
            was expected and what was found).
        InputError: a file of the dataset is missing or unreadable.
    """
    reader = registry.load("format", fmt)
    return reader(root, split=split, names=names, **options)
