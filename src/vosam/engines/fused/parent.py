"""The parent appearance model: a foreground/background ridge model fitted on many
annotated videos, the prior every video's own model starts from (OSVOS's parent network,
in closed form over frozen features).

It is stored as its normal equations (``gram``, ``cross``: sums over the training frames of
class-balanced statistics), so that ``vosam train --init shipped`` adds a user's videos to
the shipped ones instead of starting over, and a training interrupted between videos
resumes from its checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vosam.engines.fused.appearance import balanced_stats, mask_cells, rows
from vosam.errors import CheckpointError
from vosam.io.atomic import atomic_write

SHIPPED = Path(__file__).with_name("parent.npz")
FORMAT = "vosam-appearance-parent"
# regularisation of the parent's own solve, relative to the mean of its Gram diagonal
PARENT_LAMBDA = 0.01


@dataclass
class ParentModel:
    """Normal equations of the parent model and what they were made from.

    Attributes:
        gram: ``(D, D)`` sum of ``XᵀWX`` over the training frames.
        cross: ``(D, 2)`` sum of ``XᵀWY`` (background, foreground).
        frames: training frames summed.
        videos: names of the training videos, in order.
        meta: how it was made (command, frame step, vosam version).
    """

    gram: np.ndarray
    cross: np.ndarray
    frames: int = 0
    videos: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, dims: int) -> ParentModel:
        return cls(np.zeros((dims, dims)), np.zeros((dims, 2)))

    def add(self, dense: torch.Tensor, mask: np.ndarray) -> None:
        """Add one annotated frame: ``dense (C, h8, w8)`` features and its ``uint8 (H, W)``
        mask (any object is foreground; void 255 is left out)."""
        small = mask_cells(mask, tuple(dense.shape[-2:]))
        valid = small != 255
        labels = (small > 0).long()
        gram, cross = balanced_stats(rows(dense).double(), labels, 2, valid)
        self.gram += gram.numpy()
        self.cross += cross.numpy()
        self.frames += 1

    def loss(self, dense: torch.Tensor, mask: np.ndarray) -> float:
        """The model's class-balanced squared error on one annotated frame it has not seen
        (1.0 for a model with no frame yet): the training's prequential loss."""
        if self.frames == 0:
            return 1.0
        small = mask_cells(mask, tuple(dense.shape[-2:]))
        keep = small != 255
        labels = (small[keep] > 0).long()
        error = ((rows(dense)[keep] @ self.weight() - F.one_hot(labels, 2)) ** 2).sum(1)
        per_class = [error[labels == c].mean() for c in (0, 1) if (labels == c).any()]
        return float(torch.stack(per_class).mean())

    def merge(self, other: ParentModel) -> ParentModel:
        """The sum of two models' statistics."""
        return ParentModel(
            self.gram + other.gram,
            self.cross + other.cross,
            self.frames + other.frames,
            self.videos + other.videos,
            dict(self.meta),
        )

    def weight(self) -> torch.Tensor:
        """``(D, 2)`` float32 ridge weights (background, foreground)."""
        if self.frames == 0:
            raise ValueError("the parent model has no training frame")
        gram = torch.from_numpy(self.gram)
        scale = PARENT_LAMBDA * gram.diagonal().mean()
        eye = torch.eye(gram.shape[0], dtype=gram.dtype)
        return torch.linalg.solve(gram + scale * eye, torch.from_numpy(self.cross)).float()

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (``.npz``) through a temporary file renamed into place."""
        meta = {**self.meta, "format": FORMAT, "frames": self.frames, "videos": self.videos}
        with atomic_write(path) as f:
            np.savez_compressed(
                f,
                gram=self.gram.astype(np.float32),
                cross=self.cross.astype(np.float32),
                meta=np.array(json.dumps(meta)),
            )


def load_parent(path: str | Path) -> ParentModel:
    """Read a parent model written by :meth:`ParentModel.save`.

    Raises:
        CheckpointError: the file is missing, damaged or not a parent model (one line
            naming it).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such parent model file (make one with vosam train)")
    try:
        with np.load(path, allow_pickle=False) as data:
            gram = np.array(data["gram"], np.float64)
            cross = np.array(data["cross"], np.float64)
            meta = json.loads(str(data["meta"]))
    except Exception as exc:  # zip, npy or JSON damage: all say the same to the user
        raise CheckpointError(path, f"not a readable parent model ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(path, f"not a vosam parent model (format {FORMAT} expected)")
    dims = gram.shape[0] if gram.ndim == 2 else -1
    if gram.shape != (dims, dims) or cross.shape != (dims, 2):
        raise CheckpointError(path, f"damaged: gram {gram.shape} and cross {cross.shape}")
    if not (np.isfinite(gram).all() and np.isfinite(cross).all()):
        raise CheckpointError(path, "damaged: values that are not finite")
    frames = int(meta.get("frames", 0))
    if frames < 1:
        raise CheckpointError(path, "holds no training frame")
    videos = [str(v) for v in meta.get("videos", [])]
    rest = {k: v for k, v in meta.items() if k not in ("format", "frames", "videos")}
    return ParentModel(gram, cross, frames, videos, rest)


def parent_weight(parent: str | Path | None) -> torch.Tensor | None:
    """The ridge weights of ``parent`` (``"shipped"``, a path, or None)."""
    if parent is None:
        return None
    return load_parent(SHIPPED if parent == "shipped" else parent).weight()
