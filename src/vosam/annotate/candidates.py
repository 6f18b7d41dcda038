"""Which frames to annotate next: XMem++'s diversity-based frame suggestion.

Per frame, the engine's key map is blended with the frame's (predicted or annotated) mask,
``k̃ = α·k·m + (1 − α)·k`` with ``α = 0.5``, so that object pixels weigh more. Frames whose
mask covers less than 0.25 % of the image are never suggested. The dissimilarity of frame
``B`` to frame ``A`` is::

    D(A, B) = Σ_ij relu(S_AB[i, j] − S_BA[j, i]) / (|A| · |B|)

with ``S_AB`` XMem's similarity of ``A``'s elements (memory side: shrinkage) to ``B``'s
(query side: selection); ``D(A, A) = 0``. Greedily, every frame is scored by its smallest
``D`` from the frames chosen so far (the annotated ones first, as memory ``A``) and the
highest-scoring frame is chosen, ``k`` times.

The formula needs the asymmetry that shrinkage and selection give: without them ``S_AB`` and
``S_BAᵀ`` differ only by feature norms. For engines whose keys carry neither (they are
optional in :class:`~vosam.engines.base.KeyFeatures`), ``D(A, B)`` is instead the mean
squared distance from each element of ``B`` to its nearest element of ``A``: how much of
``B`` the chosen frames do not cover. Everything else is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vosam.engines.base import KeyFeatures, Propagator
from vosam.memory import similarity
from vosam.objects import VOID_ID

log = logging.getLogger(__name__)

ALPHA = 0.5
MIN_COVERAGE = 0.0025


def foreground(mask: np.ndarray) -> np.ndarray:
    """Boolean ``(H, W)``: pixels of ``mask`` (ids or booleans) holding an object (not 0, 255)."""
    if mask.dtype == bool:
        return mask
    return (mask != 0) & (mask != VOID_ID)


def coverage(mask: np.ndarray) -> float:
    """Share of the pixels of ``mask (H, W)`` that hold an object."""
    return float(np.count_nonzero(foreground(mask))) / mask.size


def blend_key(features: KeyFeatures, mask: np.ndarray, *, alpha: float = ALPHA) -> KeyFeatures:
    """``features`` with the key weighted by ``mask (H, W)`` (see :func:`foreground`).

    The mask is area-averaged onto the key grid ``(h, w)``; ``k̃ = α·k·m + (1 − α)·k``.
    Shrinkage and selection are kept as they are.
    """
    key = features.key.float()
    fg = torch.from_numpy(foreground(mask).astype(np.float32)).to(key.device)
    m = F.interpolate(fg[None, None], size=key.shape[-2:], mode="area")[0]
    return KeyFeatures(alpha * key * m + (1 - alpha) * key, features.shrinkage, features.selection)


def _flat(features: KeyFeatures) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    key = features.key.float().flatten(1)
    shr = None if features.shrinkage is None else features.shrinkage.float().flatten(1)
    sel = None if features.selection is None else features.selection.float().flatten(1)
    return key, shr, sel


def dissimilarity(a: KeyFeatures, b: KeyFeatures) -> float:
    """``D(A, B)`` of two frames' (blended) key features, see the module docstring."""
    ka, sa, ea = _flat(a)
    kb, sb, eb = _flat(b)
    if sa is None or sb is None or ea is None or eb is None:
        nearest = torch.cdist(kb.T, ka.T).pow(2).min(1).values
        return float(nearest.mean())
    s_ab = similarity(ka, kb, shrinkage=sa, selection=eb)  # (|A|, |B|)
    s_ba = similarity(kb, ka, shrinkage=sb, selection=ea)  # (|B|, |A|)
    return float(F.relu(s_ab - s_ba.T).sum()) / (ka.shape[1] * kb.shape[1])


def select_frames(
    features: Sequence[KeyFeatures],
    masks: Sequence[np.ndarray],
    annotated: Collection[int],
    *,
    k: int = 5,
    alpha: float = ALPHA,
    min_coverage: float = MIN_COVERAGE,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """The next ``k`` frames to annotate, in the order chosen.

    Args:
        features: per frame, the engine's :class:`KeyFeatures` (``Propagator.encode_key``).
        masks: per frame, ``uint8 (H, W)`` ids: annotations on annotated frames, predicted
            masks elsewhere.
        annotated: indices of the frames already annotated (at least one).
        k: how many frames to suggest; fewer come back when fewer frames qualify.
        alpha: weight of the mask in the blended key.
        min_coverage: frames whose mask covers less than this share are never suggested.
        progress: see :func:`select_blended`.

    Returns:
        Distinct frame indices, none of them annotated, each with a mask covering at least
        ``min_coverage`` of the image.
    """
    if len(features) != len(masks):
        raise ValueError(f"{len(features)} feature maps but {len(masks)} masks")
    blended = [blend_key(f, m, alpha=alpha) for f, m in zip(features, masks, strict=True)]
    covered = [coverage(m) for m in masks]
    return select_blended(
        blended, covered, annotated, k=k, min_coverage=min_coverage, progress=progress
    )


def select_blended(
    blended: Sequence[KeyFeatures],
    covered: Sequence[float],
    annotated: Collection[int],
    *,
    k: int = 5,
    min_coverage: float = MIN_COVERAGE,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """:func:`select_frames` from each frame's blended key (:func:`blend_key`) and the share
    of its pixels that its mask covers (:func:`coverage`), so that a caller can blend each
    frame as it comes and keep no mask.

    ``progress(done, total)`` is called after each comparison of two frames (``D(A, B)``),
    ``total`` being how many the selection makes.
    """
    if len(blended) != len(covered):
        raise ValueError(f"{len(blended)} feature maps but {len(covered)} coverages")
    n = len(blended)
    chosen = sorted(set(annotated))
    if not chosen:
        raise ValueError("need at least one annotated frame to suggest the next ones")
    if chosen[0] < 0 or chosen[-1] >= n:
        raise ValueError(f"annotated frame indices must lie in [0, {n})")
    open_frames = [i for i in range(n) if i not in chosen and covered[i] >= min_coverage]
    score = {i: float("inf") for i in open_frames}
    rounds = min(k, len(open_frames))
    total = len(chosen) * len(open_frames) + sum(len(open_frames) - r for r in range(1, rounds))
    done = 0
    picked: list[int] = []
    newest = chosen
    for _ in range(rounds):
        for a in newest:
            for i in score:
                score[i] = min(score[i], dissimilarity(blended[a], blended[i]))
                done += 1
                if progress is not None:
                    progress(done, total)
        best = max(score, key=lambda i: (score[i], -i))
        log.debug("suggest frame %d (min dissimilarity %.4g)", best, score[best])
        picked.append(best)
        del score[best]
        newest = [best]
    return picked


def blend_frames(
    propagator: Propagator,
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    alpha: float = ALPHA,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[KeyFeatures], list[float]]:
    """Each ``(frame, mask)`` of ``pairs`` (RGB ``uint8 (H, W, 3)`` and ``uint8 (H, W)`` ids,
    in video order) encoded once and blended with its mask at once: the blended keys and
    the masks' coverages, for :func:`select_blended`. Neither frames nor masks are kept.
    ``progress(done)`` after each frame."""
    blended: list[KeyFeatures] = []
    covered: list[float] = []
    for frame, mask in pairs:
        blended.append(blend_key(propagator.encode_key(frame), mask, alpha=alpha))
        covered.append(coverage(mask))
        if progress is not None:
            progress(len(blended))
    return blended, covered


def suggest_frames(
    propagator: Propagator,
    frames: Iterable[np.ndarray],
    masks: Sequence[np.ndarray],
    annotated: Collection[int],
    *,
    k: int = 5,
    alpha: float = ALPHA,
    min_coverage: float = MIN_COVERAGE,
) -> list[int]:
    """:func:`select_frames` on the key features ``propagator`` gives for ``frames``.

    ``frames`` yields ``uint8 (H, W, 3)`` RGB frames in video order (one per mask). Only the
    blended keys are kept, not the frames; each mask is asked for once, when its frame
    comes (``masks`` may read them from files, as :class:`vosam.runs.ResultMasks` does).
    """
    pairs = ((frame, masks[i]) for i, frame in enumerate(frames))
    blended, covered = blend_frames(propagator, pairs, alpha=alpha)
    if len(blended) != len(masks):
        raise ValueError(f"{len(blended)} frames but {len(masks)} masks")
    return select_blended(blended, covered, annotated, k=k, min_coverage=min_coverage)
