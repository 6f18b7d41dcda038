"""Memory policy: permanent/working/long-term parts, usage, consolidation, object groups."""

from __future__ import annotations

import pytest
import torch

from vosam.memory import MemoryConfig, MemoryStore, similarity, topk_softmax

CK, CV, HW = 4, 3, 6  # key channels, value channels, elements per frame


def frame(seed: int, objects: int = 1):
    g = torch.Generator().manual_seed(seed)
    key = torch.randn(CK, HW, generator=g)
    value = torch.randn(objects, CV, HW, generator=g)
    shrink = 1 + torch.rand(1, HW, generator=g)
    sel = torch.rand(CK, HW, generator=g)
    return key, value, shrink, sel


def query(seed: int):
    g = torch.Generator().manual_seed(1000 + seed)
    return torch.randn(CK, 5, generator=g), torch.rand(CK, 5, generator=g)


def add(store: MemoryStore, seed: int, objects: int = 1, *, permanent: bool = False) -> None:
    key, value, shrink, sel = frame(seed, objects)
    store.add(key, value, shrinkage=shrink, selection=sel, permanent=permanent)


def test_read_is_one_topk_softmax_over_every_part() -> None:
    store = MemoryStore(MemoryConfig(top_k=4))
    add(store, 0, permanent=True)
    add(store, 1)
    add(store, 2)
    q, e = query(0)
    got = store.read(q, selection=e)
    frames = [frame(s) for s in (0, 1, 2)]
    key = torch.cat([f[0] for f in frames], 1)
    value = torch.cat([f[1] for f in frames], 2)
    shrink = torch.cat([f[2] for f in frames], 1)
    aff = topk_softmax(similarity(key, q, shrinkage=shrink, selection=e), 4)
    torch.testing.assert_close(got, value.flatten(0, 1).matmul(aff).view(1, CV, 5))


def test_usage_is_affinity_mass_over_readouts_and_skips_permanent_memory() -> None:
    store = MemoryStore(MemoryConfig(top_k=3))
    add(store, 0, permanent=True)
    add(store, 1)
    masses = []
    for s in range(3):
        q, e = query(s)
        key = torch.cat([frame(0)[0], frame(1)[0]], 1)
        shrink = torch.cat([frame(0)[2], frame(1)[2]], 1)
        masses.append(topk_softmax(similarity(key, q, shrinkage=shrink, selection=e), 3).sum(1))
        store.read(q, selection=e)
    want = torch.stack(masses).sum(0)[HW:] / 3
    torch.testing.assert_close(store.working.usage(), want, atol=1e-5, rtol=1e-5)
    assert store.permanent.use is not None and (store.permanent.use == 0).all()


def test_working_memory_consolidates_at_its_limit() -> None:
    cfg = MemoryConfig(min_working_frames=3, max_working_frames=6, num_prototypes=4)
    store = MemoryStore(cfg)
    add(store, 0, permanent=True)
    for s in range(1, 5):
        add(store, s)
        store.read(*query(s)[:1], selection=query(s)[1])
    assert store.working_frames == 4 and store.long_term.size == 0
    add(store, 5)  # 5 working frames + permanent = T_max: the oldest 3 become candidates
    assert store.working_frames == 2
    assert store.long_term.size == 4
    assert store.permanent.size == HW


def test_prototypes_are_the_most_used_candidates_with_potentiated_values() -> None:
    cfg = MemoryConfig(top_k=2, min_working_frames=2, max_working_frames=4, num_prototypes=3)
    store = MemoryStore(cfg)
    add(store, 0, permanent=True)
    add(store, 1)
    add(store, 2)
    for s in range(4):
        q, e = query(s)
        store.read(q, selection=e)
    usage = store.working.usage()[: 2 * HW].clone()
    cand_key = torch.cat([frame(1)[0], frame(2)[0]], 1)
    cand_val = torch.cat([frame(1)[1], frame(2)[1]], 2)
    cand_shr = torch.cat([frame(1)[2], frame(2)[2]], 1)
    cand_sel = torch.cat([frame(1)[3], frame(2)[3]], 1)
    add(store, 3)  # triggers: candidates = frames 1 and 2, frame 3 stays
    proto = torch.topk(usage, 3).indices
    torch.testing.assert_close(store.long_term.key, cand_key[:, proto])
    aff = torch.softmax(
        similarity(cand_key, cand_key[:, proto], shrinkage=cand_shr, selection=cand_sel[:, proto]),
        0,
    )
    torch.testing.assert_close(store.long_term.value[0], cand_val[0] @ aff)
    torch.testing.assert_close(store.long_term.shrinkage, cand_shr @ aff)
    assert store.working_frames == 1


def test_bounds_hold_over_a_long_stream_and_permanent_memory_is_never_evicted() -> None:
    cfg = MemoryConfig(top_k=5, min_working_frames=2, max_working_frames=5, num_prototypes=4)
    cfg = MemoryConfig(**{**cfg.__dict__, "max_long_term_elements": 10})
    store = MemoryStore(cfg)
    add(store, 0, permanent=True)
    add(store, 1, permanent=True)
    perm_key = store.permanent.key.clone()
    for s in range(2, 80):
        add(store, s)
        q, e = query(s)
        store.read(q, selection=e)
        assert store.working_frames <= cfg.max_working_frames - 2
        assert store.long_term.size <= cfg.max_long_term_elements
        assert torch.equal(store.permanent.key, perm_key)
    assert store.long_term.size > 0


def test_least_used_long_term_elements_are_evicted_first() -> None:
    cfg = MemoryConfig(top_k=2, min_working_frames=2, max_working_frames=3, num_prototypes=4)
    cfg = MemoryConfig(**{**cfg.__dict__, "max_long_term_elements": 6})
    store = MemoryStore(cfg)
    add(store, 0, permanent=True)
    add(store, 1)
    add(store, 2)  # first consolidation: 4 prototypes
    assert store.long_term.size == 4
    store.long_term.use = torch.tensor([5.0, 1.0, 3.0, 0.5])
    store.long_term.life = torch.ones(4)
    kept = store.long_term.key[:, [0, 2]].clone()
    add(store, 3)  # 4 > 6 - 4: the two least used go before 4 new prototypes come in
    assert store.long_term.size == 6
    torch.testing.assert_close(store.long_term.key[:, :2], kept)


def test_cuties_eviction_keeps_the_most_used_below_a_buffer() -> None:
    """``eviction_buffer``: at ``max_long_term_elements - num_prototypes`` elements or more,
    only the ``... - eviction_buffer`` most used stay, most used first (Cutie's rule)."""
    cfg = MemoryConfig(
        top_k=2,
        min_working_frames=2,
        max_working_frames=3,
        num_prototypes=4,
        max_long_term_elements=8,
        eviction_buffer=1,
    )
    store = MemoryStore(cfg)
    add(store, 0, permanent=True)
    add(store, 1)
    add(store, 2)  # first consolidation: 4 prototypes
    assert store.long_term.size == 4
    store.long_term.use = torch.tensor([1.0, 5.0, 0.5, 3.0])
    store.long_term.life = torch.ones(4)
    kept = store.long_term.key[:, [1, 3, 0]].clone()
    add(store, 3)  # 4 >= 8 - 4: the 3 most used stay (XMem: none go), then 4 new ones
    assert store.long_term.size == 7
    torch.testing.assert_close(store.long_term.key[:, :3], kept)
    with pytest.raises(ValueError, match="eviction_buffer"):
        MemoryConfig(num_prototypes=4, max_long_term_elements=8, eviction_buffer=4)


def test_objects_entering_later_read_only_their_own_frames() -> None:
    store = MemoryStore(MemoryConfig(top_k=3))
    add(store, 0, objects=1, permanent=True)
    add(store, 1, objects=2)  # object 2 enters here
    add(store, 2, objects=2)
    q, e = query(0)
    got = store.read(q, selection=e)
    f0, f1, f2 = frame(0, 1), frame(1, 2), frame(2, 2)
    key = torch.cat([f0[0], f1[0], f2[0]], 1)
    shrink = torch.cat([f0[2], f1[2], f2[2]], 1)
    sim = similarity(key, q, shrinkage=shrink, selection=e)
    first = topk_softmax(sim, 3)
    second = topk_softmax(sim[HW:], 3)
    torch.testing.assert_close(got[0], torch.cat([f0[1][0], f1[1][0], f2[1][0]], 1) @ first)
    torch.testing.assert_close(got[1], torch.cat([f1[1][1], f2[1][1]], 1) @ second)


def test_objects_without_values_read_zeros_and_removal_shifts_slots() -> None:
    store = MemoryStore()
    add(store, 0, objects=2, permanent=True)
    store.set_num_objects(3)
    q, e = query(0)
    out = store.read(q, selection=e)
    assert out.shape == (3, CV, 5) and (out[2] == 0).all()
    before = out[1].clone()
    store.remove_object(0)
    after = store.read(q, selection=e)
    assert after.shape == (2, CV, 5)
    torch.testing.assert_close(after[0], before)
    assert store.objects_with_values == 1


def test_pop_working_removes_only_the_tagged_newest_frame() -> None:
    store = MemoryStore()
    key, value, shrink, _ = frame(1)
    store.add(key, value, shrinkage=shrink, tag=7)
    store.add(key, value, shrinkage=shrink, tag=8)
    assert not store.pop_working(7)
    assert store.pop_working(8) and store.working_frames == 1 and store.working.size == HW


def test_empty_memory_refuses_to_read_and_bad_sizes_are_refused() -> None:
    with pytest.raises(RuntimeError, match="empty"):
        MemoryStore().read(torch.zeros(CK, 2))
    with pytest.raises(ValueError):
        MemoryConfig(min_working_frames=5, max_working_frames=5)
    with pytest.raises(ValueError):
        MemoryConfig(num_prototypes=10, max_long_term_elements=5)


def test_readout_without_selection_is_the_same_in_query_chunks(monkeypatch) -> None:
    """Without a selection the queries are scored a few at a time; the values read, with a
    late object group, and the usage must equal those of one whole top-k softmax."""
    import vosam.memory.store as store_module

    def build() -> MemoryStore:
        store = MemoryStore(MemoryConfig(top_k=3, max_working_frames=None, long_term=False))
        for seed in range(3):
            key, value, shrink, _ = frame(seed, objects=1 if seed == 0 else 2)
            store.add(key, value, shrinkage=shrink, permanent=seed == 0)
        return store

    g = torch.Generator().manual_seed(7)
    q = torch.randn(CK, 11, generator=g)
    whole, chunked = build(), build()
    expected = whole.read(q)
    monkeypatch.setattr(store_module, "_CHUNK_SCORES", 2 * chunked.size)  # 2 queries a chunk
    got = chunked.read(q)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(chunked.working.use, whole.working.use, atol=1e-6, rtol=1e-6)
    # and against the definition: object 1 reads every element, object 2 only its frames
    key = torch.cat([whole.permanent.key, whole.working.key], 1)
    shrink = torch.cat([whole.permanent.shrinkage, whole.working.shrinkage], 1)
    value = torch.cat([whole.permanent.value, whole.working.value], 2)
    aff = topk_softmax(similarity(key, q, shrinkage=shrink), 3)
    torch.testing.assert_close(got[0], value[0] @ aff, atol=1e-5, rtol=1e-5)
    late = slice(HW, 3 * HW)
    aff2 = topk_softmax(similarity(key[:, late], q, shrinkage=shrink[:, late]), 3)
    torch.testing.assert_close(got[1], value[1][:, late] @ aff2, atol=1e-5, rtol=1e-5)
