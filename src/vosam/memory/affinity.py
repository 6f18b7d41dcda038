"""Affinity between memory and query keys, as in XMem.

Similarity of memory element ``i`` to query pixel ``j``::

    S_ij = -s_i * sum_c e_cj * (k_ci - q_cj) ** 2 / sqrt(C_k)

with shrinkage ``s`` (memory side) and selection ``e`` (query side). The square is expanded
as ``a² - 2ab + b²``. Without a selection XMem drops the ``b²`` term (it is constant per
query pixel, so a softmax over memory is unchanged when there is no shrinkage either); this
module does the same so that scores match XMem's bit for bit in the usual cases.

The readout keeps, per query pixel, the ``top_k`` most similar memory elements and softmaxes
over them. Shapes carry no batch axis: keys are ``(C_k, N)`` for memory and ``(C_k, M)`` for
queries. The top-k affinity is kept sparse (:class:`TopK`): a dense ``(N, M)`` matrix is
mostly zeros, and reading values through it costs ``C_v * N * M`` instead of ``C_v * k * M``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
        selection: ``(C_k, M)`` per query channel, or None (then ``b²`` is left out).
    """
    ck = mem_key.shape[0]
    if selection is None:
        # every factor is per memory element: it goes into the memory keys, and the a²
        # term into one more channel that meets a constant 1 on the query side, so the
        # scores are one matrix product written once instead of four passes over (N, M).
        # Computed query-major: each query's N scores are contiguous, so the top-k over
        # memory reads contiguous rows (several times faster on CPU)
        scale = mem_key.new_full((1, 1), 1 / math.sqrt(ck))
        if shrinkage is not None:
            scale = shrinkage.reshape(1, -1).to(mem_key.dtype) * scale
        a_sq = mem_key.pow(2).sum(0, keepdim=True)  # (1, N)
        mem_side = torch.cat([mem_key * (2 * scale), -a_sq * scale], 0)
        query_side = torch.cat([query_key, query_key.new_ones(1, query_key.shape[1])], 0)
        return (query_side.T @ mem_side).T
    # batched (1, ., .) products in XMem's order of operations, so that scores round alike
    mk = mem_key[None].transpose(1, 2)  # (1, N, C)
    qk = query_key[None]
    qe = selection[None]
    a_sq = mk.pow(2) @ qe
    two_ab = 2 * (mk @ (qk * qe))
    b_sq = (qe * qk.pow(2)).sum(1, keepdim=True)
    sim = -a_sq + two_ab - b_sq
    if shrinkage is not None:
        sim = sim * shrinkage.reshape(1, -1, 1)
    return (sim / math.sqrt(ck))[0]


@dataclass(frozen=True)
class TopK:
    """Sparse column-wise top-k softmax of an ``(N, M)`` similarity.

    Attributes:
        weights: ``(k, M)`` softmax weights; each column sums to 1.
        indices: ``(k, M)`` long, rows of the similarity the weights belong to.
        size: ``N``, the number of memory elements.
    """

    weights: torch.Tensor
    indices: torch.Tensor
    size: int

    def dense(self) -> torch.Tensor:
        """The ``(N, M)`` affinity with zeros outside the top-k."""
        out = self.weights.new_zeros(self.size, self.weights.shape[1])
        return out.scatter_(0, self.indices, self.weights)

    def usage(self) -> torch.Tensor:
        """``float32 (N,)``: affinity mass each memory element received, summed over queries."""
        out = torch.zeros(self.size, dtype=torch.float32, device=self.weights.device)
        return out.index_add_(0, self.indices.reshape(-1), self.weights.reshape(-1).float())

    def read(self, values: torch.Tensor) -> torch.Tensor:
        """Weighted sum of memory ``values (..., N)``: ``(..., M)``."""
        lead = values.shape[:-1]
        flat = values.reshape(-1, values.shape[-1])
        out = flat[:, self.indices[0]] * self.weights[0].to(flat.dtype)
        for i in range(1, self.indices.shape[0]):
            out += flat[:, self.indices[i]] * self.weights[i].to(flat.dtype)
        return out.reshape(*lead, self.weights.shape[1])


def topk_affinity(sim: torch.Tensor, top_k: int | None) -> TopK:
    """Keep the ``top_k`` largest entries of each column of ``sim (N, M)`` and softmax them.

    ``top_k=None`` (or ``>= N``) keeps every entry. Like XMem, the kept scores are
    exponentiated as they are (they are negative distances, so this cannot overflow) and
    normalised; a column whose exponentials all underflow, where XMem would give NaN, is
    normalised after subtracting its maximum instead.
    """
    n = sim.shape[0]
    k = n if top_k is None else min(top_k, n)
    values, indices = torch.topk(sim, k=k, dim=0)
    weights = values.exp()
    total = weights.sum(0, keepdim=True)
    weights = weights / total
    lost = ~torch.isfinite(weights).all(0) | (total == 0)[0]
    if lost.any():
        weights[:, lost] = torch.softmax(values[:, lost].float(), dim=0).to(weights.dtype)
    return TopK(weights, indices, n)


def topk_softmax(sim: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Dense ``(N, M)`` affinity: column-wise softmax over the ``top_k`` largest entries.

    Entries outside the top-k are exactly 0. ``top_k=None`` (or ``>= N``) is a full softmax.
    """
    if top_k is None or top_k >= sim.shape[0]:
        return torch.softmax(sim, dim=0)
    return topk_affinity(sim, top_k).dense()


def readout(affinity: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Weighted sum of memory ``values (..., N)`` by a dense ``affinity (N, M)``: ``(..., M)``."""
    lead = values.shape[:-1]
    flat = values.reshape(-1, values.shape[-1])
    return (flat @ affinity.to(flat.dtype)).reshape(*lead, affinity.shape[1])
