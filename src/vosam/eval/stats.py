"""Per-object statistics over a sequence of per-frame values: mean, recall, decay, stability.

- Mean: mean over frames (NaN frames ignored).
- Recall: share of frames whose value is above 0.5.
- Decay: mean of the first quarter minus mean of the last quarter. The N frames are cut
  into 4 bins at ``round(linspace(1, N, 5)) - 1`` (neighbouring bins share their edge
  frame), rounding halves up. The DAVIS reference stores these indices as uint8, which
  breaks past 255 frames; here they are plain integers, right for any length.
- Stability V (LVOS): population standard deviation of the per-frame (J + F) / 2.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Stats", "decay_bins", "stability", "summarize"]

_N_BINS = 4


@dataclass(frozen=True)
class Stats:
    """Mean, recall and decay of one object's per-frame values (NaN when it has no frame)."""

    mean: float
    recall: float
    decay: float


def decay_bins(n: int) -> list[tuple[int, int]]:
    """Inclusive (first, last) frame index of each of the 4 decay bins for ``n`` frames."""
    if n < 1:
        return []
    # + 1e-10 makes exact halves round up, as in the DAVIS definition
    edges = np.round(np.linspace(1, n, _N_BINS + 1) + 1e-10).astype(np.int64) - 1
    return [(int(edges[i]), int(edges[i + 1])) for i in range(_N_BINS)]


def summarize(values: np.ndarray) -> Stats:
    """Mean, recall and decay of per-frame values (T,)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return Stats(float("nan"), float("nan"), float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(v))
        finite = v[~np.isnan(v)]
        recall = np.count_nonzero(finite > 0.5) / finite.size if finite.size else float("nan")
        bins = decay_bins(v.size)
        first = v[bins[0][0] : bins[0][1] + 1]
        last = v[bins[-1][0] : bins[-1][1] + 1]
        decay = float(np.nanmean(first) - np.nanmean(last))
    return Stats(mean, float(recall), decay)


def stability(j: np.ndarray, f: np.ndarray) -> float:
    """LVOS stability V: population std of per-frame (J + F) / 2 over frames (T,)."""
    jf = (np.asarray(j, dtype=np.float64) + np.asarray(f, dtype=np.float64)) / 2
    jf = jf[~np.isnan(jf)]
    if jf.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((jf - jf.mean()) ** 2)))
