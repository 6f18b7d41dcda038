"""Merging per-object probabilities into one distribution (shared by the engines)."""

from __future__ import annotations

import torch


def soft_aggregate(prob: torch.Tensor, dim: int) -> torch.Tensor:
    """Merge per-object probabilities into one distribution with a background channel.

    ``prob`` holds each object's independent foreground probability along ``dim`` (size
    ``O``); the result has ``O + 1`` entries along ``dim``, background first: background =
    product of ``1 - p``, then a softmax over the log-odds of every entry (clamped to
    ``[1e-7, 1 - 1e-7]``), as in STM and XMem.
    """
    bg = torch.prod(1 - prob, dim=dim, keepdim=True)
    full = torch.cat([bg, prob], dim).clamp(1e-7, 1 - 1e-7)
    return torch.softmax(torch.log(full / (1 - full)), dim=dim)
