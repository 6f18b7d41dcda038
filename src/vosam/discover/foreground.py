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
        max_samples: int = 40000,
        l2: float = 1e-3,
        iters: int = 60,
        seed: int = 0,
    ) -> ForegroundModel | None:
        """Fit on ``features[t] (C, h, w)`` with ``labels[t] int8 (h, w)`` (−1 ignored).

        Classes are weighted equally. Returns None when either class has fewer than 10
        samples (nothing to learn from).
        """
        rng = np.random.default_rng(seed)
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
        x = torch.cat([xp, xn])
        y = torch.cat([torch.ones(len(xp)), torch.zeros(len(xn))]).to(x.device)
        wts = torch.cat(
            [torch.full((len(xp),), 0.5 / len(xp)), torch.full((len(xn),), 0.5 / len(xn))]
        )
        wts = wts.to(x.device)
        w = torch.zeros(x.shape[1], device=x.device, requires_grad=True)
        b = torch.zeros((), device=x.device, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logits = x @ w + b
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y, weight=wts, reduction="sum"
                )
                + l2 * (w * w).sum()
            )
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        log.debug("foreground model fitted on %d + %d samples", len(xp), len(xn))
        return cls(w.detach(), b.detach())

    @torch.inference_mode()
    def __call__(self, features: torch.Tensor) -> np.ndarray:
        """Foreground probability of features ``(C, h, w)`` → float32 ``(h, w)``."""
        c, h, w = features.shape
        logits = self.weight @ features.reshape(c, -1).float() + self.bias
        return torch.sigmoid(logits).reshape(h, w).cpu().numpy().astype(np.float32)
