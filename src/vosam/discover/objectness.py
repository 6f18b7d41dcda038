"""Learned objectness: how much a location's backbone features look like a video's main object.

A logistic regression over the discovery's stride-8 EfficientNet-Lite0 features
(:class:`vosam.discover.saliency.AppearanceFeatures`), trained on DAVIS foreground masks
(``benchmarks/train_objectness.py``): people, animals and vehicles score high, ground,
water, sky and vegetation low. It replaces the border-contrast saliency as the appearance
cue of discovery: motion says what moves, objectness what is worth segmenting, and the
per-video foreground model learns from both.

The shipped weights (``objectness.npz``, 473 numbers) were trained on the development
data (the 20 DAVIS-2016 train sequences and two DAVIS-2017 multi-object ones); figures on
those sequences are measured with priors that did not see them (``--objectness-folds`` of
``benchmarks/bench_uvos.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from vosam.discover.foreground import ForegroundModel
from vosam.errors import InputError
from vosam.io import atomic_write

WEIGHTS = Path(__file__).with_name("objectness.npz")


def mask_to_grid(
    mask: np.ndarray, input_size: tuple[int, int], grid: tuple[int, int]
) -> np.ndarray:
    """Foreground of ``mask (H, W)`` ids (255 void counts as background) on the stride-8
    grid ``(h8, w8)`` of a backbone input ``input_size``: cells more than half covered."""
    h, w = input_size
    h8, w8 = grid
    fg = ((mask > 0) & (mask != 255)).astype(np.float32)
    fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_AREA)
    fg = cv2.copyMakeBorder(fg, 0, h8 * 8 - h, 0, w8 * 8 - w, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(fg, (w8, h8), interpolation=cv2.INTER_AREA) > 0.5


class Objectness:
    """Per-location objectness of dense features.

    Args:
        weight: float32 ``(C,)`` of the logistic regression.
        bias: its bias.
        short_side: the backbone input's shorter side the features were computed at
            (the regression is only meaningful on features of that scale).
        trained_on: names of the sequences it was trained on.
    """

    def __init__(
        self,
        weight: np.ndarray,
        bias: float,
        *,
        short_side: int,
        trained_on: Sequence[str] = (),
    ) -> None:
        self.short_side = int(short_side)
        self.trained_on = tuple(trained_on)
        self._model = ForegroundModel(
            torch.from_numpy(np.array(weight, np.float32).reshape(-1)),
            torch.tensor(float(bias), dtype=torch.float32),
        )

    @property
    def weight(self) -> np.ndarray:
        """float32 ``(C,)`` weights of the logistic regression."""
        return self._model.weight.cpu().numpy()

    @property
    def bias(self) -> float:
        """Its bias."""
        return float(self._model.bias)

    @classmethod
    def fit(
        cls,
        features: Sequence[torch.Tensor],
        masks: Sequence[np.ndarray],
        *,
        short_side: int,
        trained_on: Sequence[str] = (),
        max_samples: int = 60000,
        l2: float = 1e-3,
        iters: int = 200,
    ) -> Objectness:
        """Train on ``features[t] (C, h8, w8)`` with foreground ``masks[t] bool (h8, w8)``.

        Classes are weighted equally; at most ``max_samples`` locations (half of each
        class) are drawn.

        Raises:
            ValueError: fewer than 10 locations of either class.
        """
        labels = [np.asarray(m, bool).astype(np.int8) for m in masks]
        model = ForegroundModel.fit(
            features, labels, max_samples=max_samples, l2=l2, iters=iters, seed=0
        )
        if model is None:
            raise ValueError("objectness needs at least 10 foreground and 10 background cells")
        return cls(
            model.weight.cpu().numpy(),
            float(model.bias),
            short_side=short_side,
            trained_on=trained_on,
        )

    def save(self, path: str | Path) -> None:
        """Write the weights to ``path`` (``.npz``), atomically."""
        with atomic_write(path) as f:
            np.savez_compressed(
                f,
                weight=self.weight,
                bias=np.float32(self.bias),
                short_side=np.int32(self.short_side),
                trained_on=np.array(self.trained_on, dtype=str),
            )

    @classmethod
    def load(cls, path: str | Path = WEIGHTS) -> Objectness:
        """The objectness of ``path`` (by default the shipped weights).

        Raises:
            InputError: the file is missing or is not objectness weights.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "no objectness weights here")
        try:
            with np.load(path) as data:
                missing = {"weight", "bias", "short_side"} - set(data.files)
                if missing:
                    raise InputError(path, f"not objectness weights (missing {sorted(missing)})")
                names = data["trained_on"].tolist() if "trained_on" in data.files else []
                return cls(
                    data["weight"],
                    float(data["bias"]),
                    short_side=int(data["short_side"]),
                    trained_on=names,
                )
        except (OSError, ValueError) as err:
            raise InputError(path, f"cannot read objectness weights ({err})") from err

    def __call__(self, features: torch.Tensor) -> np.ndarray:
        """Objectness of features ``(C, h8, w8)`` → float32 ``(h8, w8)`` in (0, 1).

        Raises:
            ValueError: the features have another channel count than the weights.
        """
        channels = self._model.weight.shape[0]
        if features.shape[0] != channels:
            raise ValueError(
                f"objectness takes {channels}-channel features, got {features.shape[0]}"
            )
        if self._model.weight.device != features.device:  # moved once, to the features
            self._model = ForegroundModel(
                self._model.weight.to(features.device), self._model.bias.to(features.device)
            )
        return self._model(features)
