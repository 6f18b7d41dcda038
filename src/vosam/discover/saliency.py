"""Appearance saliency from the embedded EfficientNet-Lite0 features.

Boundary prior: the frame's border is mostly background, so a location is salient when its
features are unlike every part of the border. Saliency = 1 − (mean cosine similarity to its
``k`` most similar border locations), rescaled to [0, 1] per frame.
"""

from __future__ import annotations

import numpy as np
import torch

from vosam.engines.embedded.features import FeatureExtractor


def border_contrast(dense: torch.Tensor, *, k: int = 8, width: int = 1) -> torch.Tensor:
    """Boundary-prior saliency of dense features ``(C, h, w)`` (unit-norm blocks) →
    float32 ``(h, w)`` in [0, 1]."""
    c, h, w = dense.shape
    flat = dense.reshape(c, -1).float()
    flat = flat / (flat.norm(dim=0, keepdim=True) + 1e-6)
    border = torch.zeros(h, w, dtype=torch.bool, device=dense.device)
    border[:width] = border[-width:] = True
    border[:, :width] = border[:, -width:] = True
    sims = flat.T @ flat[:, border.reshape(-1)]  # (h*w, n_border)
    top = sims.topk(min(k, sims.shape[1]), dim=1).values.mean(1)
    sal = 1.0 - top
    lo, hi = sal.min(), sal.max()
    sal = (sal - lo) / (hi - lo + 1e-6)
    return sal.reshape(h, w)


class AppearanceFeatures:
    """The discovery's view of the embedded backbone: dense features and their saliency.

    Args:
        device: torch device.
        short_side: backbone input's shorter side (features are at stride 8 of it).
        extractor: an existing extractor to share (its own input size is used), e.g. one
            already loaded for another purpose; a new one is built when omitted.
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        short_side: int = 240,
        extractor: FeatureExtractor | None = None,
    ) -> None:
        self.extractor = extractor or FeatureExtractor(torch.device(device), short_side)

    def dense(self, image: np.ndarray) -> torch.Tensor:
        """``image uint8 (H, W, 3)`` → dense features float16 ``(C, h8, w8)``."""
        return self.extractor(image).dense.half()

    def __call__(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``image uint8 (H, W, 3)`` → (dense features float16 ``(C, h8, w8)``, saliency
        float32 ``(h8, w8)``)."""
        dense = self.extractor(image).dense
        return dense.half(), border_contrast(dense)
