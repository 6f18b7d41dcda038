"""XMem similarity and top-k readout against brute-force loops on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from vosam.memory import readout, similarity, topk_affinity, topk_softmax


def brute_similarity(mk, qk, shrinkage=None, selection=None):
    c, n = mk.shape
    m = qk.shape[1]
    out = torch.empty(n, m, dtype=torch.float64)
    for i in range(n):
        for j in range(m):
            total = 0.0
            for ch in range(c):
                e = 1.0 if selection is None else float(selection[ch, j])
                if selection is None:  # XMem leaves out the query's squared norm
                    total += float(mk[ch, i] ** 2 - 2 * mk[ch, i] * qk[ch, j])
                else:
                    total += e * float((mk[ch, i] - qk[ch, j]) ** 2)
            s = 1.0 if shrinkage is None else float(shrinkage.reshape(-1)[i])
            out[i, j] = -s * total / math.sqrt(c)
    return out


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(0)
    mk = torch.randn(4, 7, generator=g)
    qk = torch.randn(4, 5, generator=g)
    shrink = 1 + torch.rand(1, 7, generator=g) * 3
    sel = torch.rand(4, 5, generator=g)
    return mk, qk, shrink, sel


def test_similarity_matches_the_definition(tensors) -> None:
    mk, qk, shrink, sel = tensors
    got = similarity(mk, qk, shrinkage=shrink, selection=sel)
    torch.testing.assert_close(
        got.double(), brute_similarity(mk, qk, shrink, sel), atol=1e-5, rtol=1e-5
    )


def test_similarity_without_selection_drops_the_query_norm(tensors) -> None:
    mk, qk, shrink, _ = tensors
    got = similarity(mk, qk, shrinkage=shrink)
    torch.testing.assert_close(got.double(), brute_similarity(mk, qk, shrink), atol=1e-5, rtol=1e-5)
    # with neither term, a softmax over memory equals that of the full negative distance
    plain = similarity(mk, qk)
    d2 = -(torch.cdist(mk.T, qk.T) ** 2) / 2
    torch.testing.assert_close(torch.softmax(plain, 0), torch.softmax(d2, 0), atol=1e-6, rtol=0)


def test_topk_zeroes_everything_else_and_columns_sum_to_one(tensors) -> None:
    mk, qk, shrink, sel = tensors
    sim = similarity(mk, qk, shrinkage=shrink, selection=sel)
    aff = topk_softmax(sim, 3)
    assert ((aff > 0).sum(0) == 3).all()
    torch.testing.assert_close(aff.sum(0), torch.ones(5))
    for j in range(5):
        top = torch.topk(sim[:, j], 3).indices
        rest = torch.ones(7, dtype=torch.bool)
        rest[top] = False
        assert (aff[rest, j] == 0).all()
        torch.testing.assert_close(aff[top, j], torch.softmax(sim[top, j], 0))


def test_sparse_readout_and_usage_equal_the_dense_ones(tensors) -> None:
    mk, qk, shrink, sel = tensors
    sim = similarity(mk, qk, shrinkage=shrink, selection=sel)
    values = torch.randn(2, 3, 7)
    sparse = topk_affinity(sim, 3)
    dense = topk_softmax(sim, 3)
    torch.testing.assert_close(sparse.dense(), dense)
    torch.testing.assert_close(sparse.read(values), readout(dense, values))
    torch.testing.assert_close(sparse.usage(), dense.sum(1))


def test_top_k_at_least_memory_size_is_a_full_softmax(tensors) -> None:
    mk, qk, _, _ = tensors
    sim = similarity(mk, qk)
    torch.testing.assert_close(topk_softmax(sim, None), torch.softmax(sim, 0))
    torch.testing.assert_close(topk_affinity(sim, 50).dense(), torch.softmax(sim, 0))
