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
    return torch.softmax(aggregate_logits(prob, dim), dim=dim)


def aggregate_logits(prob: torch.Tensor, dim: int) -> torch.Tensor:
    """The log-odds that :func:`soft_aggregate` normalises: ``O + 1`` entries along ``dim``,
    background (product of ``1 - p``) first, each clamped to ``[1e-7, 1 - 1e-7]``.

    Cutie upsamples these before its softmax, and compares them to find each object's
    winning pixels.
    """
    bg = torch.prod(1 - prob, dim=dim, keepdim=True)
    full = torch.cat([bg, prob], dim).clamp(1e-7, 1 - 1e-7)
    return torch.log(full / (1 - full))
