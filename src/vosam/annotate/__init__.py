"""Annotation-candidate selection: which frames a user should annotate next (XMem++)."""

from vosam.annotate.candidates import (
    blend_frames,
    blend_key,
    coverage,
    dissimilarity,
    select_blended,
    select_frames,
    suggest_frames,
)

__all__ = [
    "blend_frames",
    "blend_key",
    "coverage",
    "dissimilarity",
    "select_blended",
    "select_frames",
    "suggest_frames",
]
