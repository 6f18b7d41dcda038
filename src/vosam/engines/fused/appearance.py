"""The re-detecting appearance model: ridge regression from stride-8 features to labels.

A per-video linear target model (FRTM's idea, solved in closed form on a CPU) scores every
cell of every frame for the background and each object, wherever the object went. It is
fitted on the annotated frames, optionally pulled towards a *parent* fitted on many
annotated videos (OSVOS's parent network, here a foreground/background model made by
``vosam train``), and updated online only from frames it is confident about.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rows(dense: torch.Tensor) -> torch.Tensor:
    """``(C, h, w)`` features → ``(h·w, C + 1)`` rows with a constant (bias) column."""
    channels = dense.shape[0]
    x = dense.reshape(channels, -1).T
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)


def mask_cells(mask: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """``uint8 (H, W)`` ids → ``(h·w,)`` long ids of the cells of a ``size`` grid (nearest)."""
    cells = F.interpolate(
        torch.from_numpy(np.array(mask))[None, None].float(), size=size, mode="nearest"
    )
    return cells.reshape(-1).long()


def balanced_stats(
    x: torch.Tensor, labels: torch.Tensor, classes: int, weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normal equations ``(XᵀWX, XᵀWY)`` of rows ``x (P, D)`` and class indices
    ``labels (P,)``, each class weighing as much in total (a small object counts as much as
    the background); ``weight (P,)`` in {0, 1} leaves pixels out."""
    weight = torch.ones(x.shape[0], dtype=x.dtype) if weight is None else weight.to(x.dtype)
    counts = torch.bincount(labels[weight > 0], minlength=classes).to(x.dtype).clamp(min=1)
    w = (weight / counts[labels]).unsqueeze(1)
    y = F.one_hot(labels, classes).to(x.dtype)
    return x.T @ (x * w), x.T @ (y * w)


class RidgeTarget:
    """Per-video ridge regression from feature rows to background + object scores.

    ``fit`` is called whenever the annotated frames or the objects change; ``update`` adds
    a confidently segmented frame (its statistics decay with every later update);
    ``predict`` gives probabilities.
    """

    def __init__(
        self,
        *,
        ridge_lambda: float,
        parent: torch.Tensor | None = None,
        decay: float = 0.95,
    ) -> None:
        self.ridge_lambda = ridge_lambda
        self.parent = parent  # (D, 2): background and foreground columns
        self.decay = decay
        self._annotated: tuple[torch.Tensor, torch.Tensor] | None = None
        self._online: tuple[torch.Tensor, torch.Tensor] | None = None
        self.weight: torch.Tensor | None = None  # (D, N + 1)

    def fit(self, frames: list[tuple[torch.Tensor, torch.Tensor]], classes: int) -> None:
        """Fit on annotated frames ``(rows (P, D), labels (P,))``, labels in 0..classes-1."""
        gram, cross = None, None
        for x, labels in frames:
            a, b = balanced_stats(x, labels, classes)
            gram = a if gram is None else gram + a
            cross = b if cross is None else cross + b
        self._annotated = (gram, cross)
        if self._online is not None and self._online[1].shape[1] != classes:
            self._online = None
        self._solve()

    def update(self, x: torch.Tensor, labels: torch.Tensor, confident: torch.Tensor) -> None:
        """Add a propagated frame's confident pixels (``confident (P,)`` bool)."""
        classes = self._annotated[1].shape[1]
        a, b = balanced_stats(x, labels, classes, confident)
        if self._online is None:
            self._online = (a, b)
        else:
            self._online = (
                self.decay * self._online[0] + a,
                self.decay * self._online[1] + b,
            )
        self._solve()

    def insert_class(self, index: int) -> None:
        """A new object at class ``index``: no online evidence of it yet."""
        if self._online is not None:
            gram, cross = self._online
            zero = torch.zeros(cross.shape[0], 1)
            self._online = (gram, torch.cat([cross[:, :index], zero, cross[:, index:]], 1))

    def remove_class(self, index: int) -> None:
        """An object removed at class ``index``: its online evidence becomes background's."""
        if self._online is not None:
            gram, cross = self._online
            merged = cross.clone()
            merged[:, 0] += merged[:, index]
            self._online = (gram, torch.cat([merged[:, :index], merged[:, index + 1 :]], 1))

    def _solve(self) -> None:
        gram, cross = self._annotated
        if self._online is not None:
            gram, cross = gram + self._online[0], cross + self._online[1]
        scale = self.ridge_lambda * gram.diagonal().mean().clamp(min=1e-12)
        rhs = cross
        if self.parent is not None:
            objects = cross.shape[1] - 1
            prior = torch.cat([self.parent[:, :1], self.parent[:, 1:2].expand(-1, objects)], 1)
            rhs = cross + scale * prior
        eye = torch.eye(gram.shape[0], dtype=gram.dtype)
        self.weight = torch.linalg.solve(gram + scale * eye, rhs)

    def predict(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """``(N + 1, h, w)`` probabilities of rows ``x (h·w, D)``: scores clipped at zero
        and normalised."""
        scores = (x @ self.weight).T.reshape(-1, *size)
        scores = scores.clamp(min=0) + 1e-4
        return scores / scores.sum(0, keepdim=True)
