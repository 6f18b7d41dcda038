"""Affinity between memory and query keys, as in XMem.

Similarity of memory element ``i`` to query pixel ``j``::

    S_ij = -s_i * sum_c e_cj * (k_ci - q_cj) ** 2 / sqrt(C_k)

with shrinkage ``s`` (memory side) and selection ``e`` (query side); both default to 1. The
readout keeps, per query pixel, the ``top_k`` most similar memory elements and softmaxes over
them. Shapes carry no batch axis: keys are ``(C_k, N)`` for memory and ``(C_k, M)`` for
queries.
"""

from __future__ import annotations

import math

import torch


def similarity(
    mem_key: torch.Tensor,
    query_key: torch.Tensor,
    *,
    shrinkage: torch.Tensor | None = None,
    selection: torch.Tensor | None = None,
) -> torch.Tensor:
    """Similarity ``(N, M)`` of memory keys ``(C_k, N)`` to query keys ``(C_k, M)``.

    Args:
        shrinkage: ``(1, N)`` or ``(N,)`` per memory element, or None for 1.
        selection: ``(C_k, M)`` per query channel, or None for 1.
    """
    ck = mem_key.shape[0]
    mk = mem_key.transpose(0, 1)  # (N, C)
    if selection is None:
        a_sq = mk.pow(2).sum(1, keepdim=True)  # (N, 1)
        two_ab = 2 * (mk @ query_key)
        b_sq = query_key.pow(2).sum(0, keepdim=True)  # (1, M)
    else:
        a_sq = mk.pow(2) @ selection
        two_ab = 2 * (mk @ (query_key * selection))
        b_sq = (selection * query_key.pow(2)).sum(0, keepdim=True)
    sim = two_ab - a_sq - b_sq
    if shrinkage is not None:
        sim = sim * shrinkage.reshape(-1, 1)
    return sim / math.sqrt(ck)


def topk_softmax(sim: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Column-wise softmax of ``sim (N, M)`` over the ``top_k`` largest entries of each column.

    Entries outside the top-k get exactly 0. ``top_k=None`` (or ``>= N``) is a full softmax.
    Returns a dense ``(N, M)`` affinity whose columns sum to 1.
    """
    n = sim.shape[0]
    if top_k is None or top_k >= n:
        return torch.softmax(sim, dim=0)
    values, indices = torch.topk(sim, k=top_k, dim=0)
    weights = torch.softmax(values, dim=0)
    return torch.zeros_like(sim).scatter_(0, indices, weights)


def readout(affinity: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Weighted sum of memory ``values (..., N)`` by ``affinity (N, M)``: ``(..., M)``."""
    lead = values.shape[:-1]
    flat = values.reshape(-1, values.shape[-1])
    return (flat @ affinity).reshape(*lead, affinity.shape[1])
