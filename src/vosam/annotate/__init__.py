"""Annotation-candidate selection: which frames a user should annotate next (XMem++)."""

from vosam.annotate.candidates import (
    blend_key,
    coverage,
    dissimilarity,
    select_frames,
    suggest_frames,
)

__all__ = ["blend_key", "coverage", "dissimilarity", "select_frames", "suggest_frames"]
