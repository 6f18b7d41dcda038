"""A per-video foreground model: motion and appearance together (MaskVOS's insight).

Motion finds what moves but is silent when the object pauses and noisy at occlusion
borders; appearance saliency finds what stands out but also fires on static clutter. Their
weighted mix chooses confident pseudo-labels (clearly foreground, clearly background) over
the whole video; a logistic regression on the frozen backbone features learns from them
what the moving object looks like, and then scores every location of every frame, including
frames where it does not move.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit

log = logging.getLogger(__name__)


def pseudo_labels(fused: np.ndarray, *, fg_threshold: float, bg_threshold: float) -> np.ndarray:
    """int8 ``(h, w)`` labels from fused saliency ``(h, w)``: 1 foreground, 0 background,
    −1 unsure."""
    labels = np.full(fused.shape, -1, np.int8)
    labels[fused >= fg_threshold] = 1
    labels[fused <= bg_threshold] = 0
    return labels


class ForegroundModel:
    """Logistic regression over features ``(C,)``: ``p = σ(w·f + b)``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.weight = weight
        self.bias = bias

    @classmethod
    def fit(
        cls,
        features: Sequence[torch.Tensor],
        labels: Sequence[np.ndarray],
        *,
        max_samples: int = 12000,
        l2: float = 1e-3,
        iters: int = 50,
        seed: int = 0,
    ) -> ForegroundModel | None:
        """Fit on ``features[t] (C, h, w)`` with ``labels[t] int8 (h, w)`` (−1 ignored).

        Classes are weighted equally. Returns None when either class has fewer than 10
        samples (nothing to learn from).
        """
        rng = np.random.default_rng(seed)
        device = features[0].device
        pos, neg = [], []
        for f, lab in zip(features, labels, strict=True):
            flat = f.reshape(f.shape[0], -1)
            lab = torch.from_numpy(lab.reshape(-1)).to(flat.device)
            pos.append(flat[:, lab == 1].T)
            neg.append(flat[:, lab == 0].T)
        xp, xn = torch.cat(pos).float(), torch.cat(neg).float()
        if len(xp) < 10 or len(xn) < 10:
            return None
        half = max_samples // 2
        if len(xp) > half:
            xp = xp[torch.from_numpy(rng.choice(len(xp), half, replace=False)).to(xp.device)]
        if len(xn) > half:
            xn = xn[torch.from_numpy(rng.choice(len(xn), half, replace=False)).to(xn.device)]
        x = torch.cat([xp, xn]).cpu().numpy()
        y = np.concatenate([np.ones(len(xp)), np.zeros(len(xn))]).astype(np.float32)
        wts = np.concatenate(
            [np.full(len(xp), 0.5 / len(xp)), np.full(len(xn), 0.5 / len(xn))]
        ).astype(np.float32)

        def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
            logits = x @ params[:-1].astype(np.float32) + np.float32(params[-1])
            # weighted binary cross-entropy, written stably: log(1 + e^z) - y z
            loss = float(wts @ (np.logaddexp(0.0, logits) - y * logits))
            err = wts * (expit(logits) - y)
            grad = np.append(x.T @ err + 2 * l2 * params[:-1], err.sum()).astype(np.float64)
            return loss + l2 * float(params[:-1] @ params[:-1]), grad

        fitted = minimize(
            loss_and_grad,
            np.zeros(x.shape[1] + 1),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": iters},
        )
        params = torch.from_numpy(fitted.x.astype(np.float32)).to(device)
        log.debug("foreground model fitted on %d + %d samples", len(xp), len(xn))
        return cls(params[:-1], params[-1])

    @torch.inference_mode()
    def __call__(self, features: torch.Tensor) -> np.ndarray:
        """Foreground probability of features ``(C, h, w)`` → float32 ``(h, w)``."""
        c, h, w = features.shape
        logits = self.weight @ features.reshape(c, -1).float() + self.bias
        return torch.sigmoid(logits).reshape(h, w).cpu().numpy().astype(np.float32)
