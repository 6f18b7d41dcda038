"""A weighted ridge classifier fitted in closed form, one per prompt.

Labels are ±1, so the fitted function is a least-squares linear discriminant: its sign says
which side a cell is on and its size says how sure the fit is. Closed form keeps one fit at
a few milliseconds for a few thousand cells of a few hundred features.
"""

from __future__ import annotations

import numpy as np


def fit_ridge(x: np.ndarray, target: np.ndarray, weight: np.ndarray, *, ridge: float) -> np.ndarray:
    """Weighted least squares of ``target`` on ``[x, 1]`` with an L2 penalty.

    Args:
        x: float32 ``(N, C)`` standardised features.
        target: float32 ``(N,)`` labels, +1 object, -1 background.
        weight: float32 ``(N,)`` per-sample weights (0 = unlabelled).
        ridge: penalty, relative to the total weight.

    Returns:
        float64 ``(C + 1,)`` coefficients, the bias last.
    """
    keep = weight > 0
    xs, ts, ws = x[keep].astype(np.float64), target[keep], weight[keep].astype(np.float64)
    xs = np.concatenate([xs, np.ones((len(xs), 1))], 1)
    xw = xs * ws[:, None]
    gram = xs.T @ xw
    pen = ridge * ws.sum() / max(1, x.shape[0]) * np.eye(gram.shape[0])
    pen[-1, -1] = 0.0  # the bias is not penalised
    return np.linalg.solve(gram + pen + 1e-9 * np.eye(gram.shape[0]), xw.T @ ts)


def apply_ridge(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """The classifier's output ``(N,)`` for ``x (N, C)``."""
    return (x @ coef[:-1].astype(np.float32) + np.float32(coef[-1])).astype(np.float32)


def balanced_weights(target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``weight (N,)`` rescaled so that positives and negatives weigh the same in total."""
    out = weight.astype(np.float32).copy()
    pos, neg = (target > 0) & (weight > 0), (target < 0) & (weight > 0)
    sp, sn = out[pos].sum(), out[neg].sum()
    if sp > 0 and sn > 0:
        out[pos] *= 0.5 / sp
        out[neg] *= 0.5 / sn
    return out * len(out)
