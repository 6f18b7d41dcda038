"""XMem inference core on a tiny random-weight network and a synthetic video."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from xmem_helpers import H, W, square_video, tiny_network, tiny_propagator

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.base import onehot
from vosam.engines.xmem import XMemConfig, XMemPropagator
from vosam.engines.xmem.preprocess import geometry, prepare_image


def run(tracker, frames, annotations):
    return [tracker.step(i, f, annotation=annotations.get(i)) for i, f in enumerate(frames)]


def test_several_objects_end_to_end(video) -> None:
    frames, masks = video
    results = run(tiny_propagator().new_tracker(), frames, {0: masks[0]})
    assert results[0].object_ids == (1, 3)
    np.testing.assert_array_equal(results[0].probs, onehot(masks[0], (1, 3)))
    for r in results[1:]:
        assert r.probs.shape == (3, H, W) and r.probs.dtype == np.float32
        np.testing.assert_allclose(r.probs.sum(0), 1, atol=1e-5)
        assert r.object_ids == (1, 3)
        assert r.confidence.shape == (2,)
        assert set(np.unique(r.mask)) <= {0, 1, 3}


def test_first_propagated_frame_matches_a_hand_written_readout(video) -> None:
    """Frame 1 = decoder(readout of frame 0 through a brute-force top-k softmax)."""
    frames, masks = video
    top_k = 5
    prop = tiny_propagator(top_k=top_k)
    tracker = prop.new_tracker()
    tracker.step(0, frames[0], annotation=masks[0])
    got = tracker.step(1, frames[1]).probs

    net = tiny_network()
    geo = geometry(H, W, -1)
    with torch.no_grad():
        x0, x1 = (prepare_image(f, geo, device="cpu") for f in frames[:2])
        k0, s0, _, (f16_0, _, _) = net.encode_key(x0)
        k1, _, e1, feats1 = net.encode_key(x1)
        prob0 = soft_aggregate(torch.from_numpy(onehot(masks[0], (1, 3))[1:]), dim=0)
        hidden = torch.zeros(1, 2, net.hidden_dim, *k0.shape[-2:])
        v0, hidden = net.encode_value(x0, f16_0, hidden, prob0[1:][None])
        mk, ms = k0.flatten(2)[0], s0.flatten(2)[0, 0]
        qk, qe = k1.flatten(2)[0], e1.flatten(2)[0]
        c, n, m = mk.shape[0], mk.shape[1], qk.shape[1]
        sim = torch.empty(n, m)
        for i in range(n):
            for j in range(m):
                sim[i, j] = -ms[i] * (qe[:, j] * (mk[:, i] - qk[:, j]) ** 2).sum() / math.sqrt(c)
        aff = torch.zeros(n, m)
        for j in range(m):
            top = torch.topk(sim[:, j], top_k)
            aff[top.indices, j] = torch.softmax(top.values, 0)
        readout = (v0[0].flatten(2) @ aff).view(1, 2, -1, *k1.shape[-2:])
        _, _, want = net.segment(feats1, readout, hidden, update_hidden=True)
    np.testing.assert_allclose(got, want[0].numpy(), atol=1e-5)


def test_resized_frames_come_back_at_frame_resolution(video) -> None:
    frames, masks = video
    tracker = tiny_propagator(size=32).new_tracker()
    results = run(tracker, frames[:3], {0: masks[0]})
    assert all(r.probs.shape == (3, H, W) for r in results)


def test_object_entering_on_a_later_annotation(video) -> None:
    frames, masks = video
    first = np.where(masks[0] == 3, 0, masks[0]).astype(np.uint8)
    tracker = tiny_propagator().new_tracker()
    results = run(tracker, frames, {0: first, 3: masks[3]})
    assert results[2].object_ids == (1,)
    assert results[3].object_ids == (1, 3)
    for r in results[4:]:
        assert r.probs.shape == (3, H, W)
        np.testing.assert_allclose(r.probs.sum(0), 1, atol=1e-5)
    # object 3 has its own group: it reads only frames that hold its values
    assert tracker.memory.objects_with_values == 2
    assert int(tracker.memory.permanent.valid.max()) == 1


def test_partial_annotation_keeps_predictions_of_unnamed_objects(video) -> None:
    frames, masks = video
    first = np.where(masks[0] == 3, 0, masks[0]).astype(np.uint8)
    only_new = np.where(masks[3] == 3, 3, 0).astype(np.uint8)
    tracker = tiny_propagator(partial_annotations=True).new_tracker()
    results = run(tracker, frames[:4], {0: first, 3: only_new})
    probs = results[3].probs
    assert results[3].object_ids == (1, 3)
    # object 3's pixels are taken from the annotation; object 1 is still predicted elsewhere
    assert (results[3].mask[masks[3] == 3] == 3).all()
    assert probs[1][masks[3] != 3].max() > 0


def test_memory_stays_within_bounds_on_a_long_video() -> None:
    frames, masks = square_video(40)
    cfg = dict(mem_every=1, min_working_frames=2, max_working_frames=4)
    cfg |= dict(num_prototypes=8, max_long_term_elements=20)
    tracker = tiny_propagator(**cfg).new_tracker()
    memory = tracker.memory
    long_term_sizes = []
    for i, frame in enumerate(frames):
        tracker.step(i, frame, annotation=masks[0] if i == 0 else None)
        assert memory.working_frames <= cfg["max_working_frames"] - 2
        assert memory.long_term.size <= cfg["max_long_term_elements"]
        assert memory.permanent.size == 24  # the annotated frame, (64/16)·(96/16) elements
        long_term_sizes.append(memory.long_term.size)
    assert max(long_term_sizes) > 12  # consolidated more than once, then evicted


def test_permanent_memory_changes_predictions_before_a_later_annotation() -> None:
    frames, masks = square_video(10)
    plain = tiny_propagator().new_tracker()
    before = run(plain, frames[:6], {0: masks[0]})
    xmempp = tiny_propagator().new_tracker()
    xmempp.add_permanent(0, frames[0], masks[0])
    xmempp.add_permanent(9, frames[9], masks[9])
    after = run(xmempp, frames[:6], {0: masks[0]})
    np.testing.assert_array_equal(after[0].probs, before[0].probs)
    for b, a in zip(before[1:], after[1:], strict=True):
        assert np.abs(b.probs - a.probs).max() > 1e-4
    assert xmempp.memory.permanent.size == 2 * 24
    # the annotated frame was already in permanent memory: no duplicate working frame
    assert xmempp.memory.working_frames == 1  # frame 5 only


def test_permanent_frames_are_rewritten_when_objects_are_added(video) -> None:
    frames, masks = video
    only_1 = np.where(masks[0] == 1, 1, 0).astype(np.uint8)
    tracker = tiny_propagator().new_tracker()
    tracker.add_permanent(0, frames[0], only_1)
    tracker.add_permanent(5, frames[5], masks[5])
    r = tracker.step(2, frames[2])
    assert r.object_ids == (1, 3)
    # both permanent frames hold values for both objects (object 3 absent on frame 0)
    assert tracker.memory.permanent.valid.tolist() == [2] * 48


def test_without_annotation_or_memory_everything_is_background(video) -> None:
    frames, _ = video
    r = tiny_propagator().new_tracker().step(0, frames[0])
    assert r.object_ids == () and r.probs.shape == (1, H, W) and (r.probs == 1).all()


def test_remove_object_keeps_the_other_ids(video) -> None:
    frames, masks = video
    tracker = tiny_propagator().new_tracker()
    run(tracker, frames[:3], {0: masks[0]})
    tracker.remove_object(1)
    r = tracker.step(3, frames[3])
    assert r.object_ids == (3,) and r.probs.shape == (2, H, W)
    with pytest.raises(KeyError):
        tracker.remove_object(1)


def test_feedback_replaces_the_frame_just_memorised(video) -> None:
    frames, masks = video
    tracker = tiny_propagator(mem_every=2).new_tracker()
    run(tracker, frames[:3], {0: masks[0]})  # frame 2 is a memory frame
    assert tracker.memory.working_frames == 1
    tracker.feedback(2, frames[2], masks[2])
    assert tracker.memory.working_frames == 1
    tracker.feedback(1, frames[1], masks[1])
    assert tracker.memory.working_frames == 2


def test_annotation_of_the_wrong_size_is_refused(video) -> None:
    frames, masks = video
    with pytest.raises(ValueError, match="mask is 48×32 but the frame is 96×64"):
        tiny_propagator().new_tracker().step(0, frames[0], annotation=masks[0][:32, :48])


def test_encode_key_gives_features_at_stride_16(video) -> None:
    frames, _ = video
    feats = tiny_propagator().encode_key(frames[0])
    assert feats.key.shape == (8, H // 16, W // 16)
    assert feats.shrinkage.shape == (1, H // 16, W // 16) and (feats.shrinkage >= 1).all()
    assert feats.selection.shape == (8, H // 16, W // 16)


def test_default_config_is_xmems() -> None:
    cfg = XMemConfig()
    assert (cfg.size, cfg.mem_every, cfg.top_k, cfg.deep_update_every) == (480, 5, 30, -1)
    mem = cfg.memory()
    assert (mem.min_working_frames, mem.max_working_frames) == (5, 10)
    assert (mem.max_long_term_elements, mem.num_prototypes, mem.long_term) == (10_000, 128, True)
    assert isinstance(tiny_propagator(), XMemPropagator)


def test_half_precision_autocast_keeps_every_path_working(monkeypatch) -> None:
    """CUDA runs under float16 autocast; bfloat16 autocast on the CPU exercises the same
    mixed-dtype paths (memory in half precision, usage and outputs in float32)."""
    from vosam.engines.xmem.tracker import XMemTracker

    monkeypatch.setattr(
        XMemTracker, "_autocast", lambda self: torch.autocast("cpu", dtype=torch.bfloat16)
    )
    frames, masks = square_video(12)
    cfg = dict(mem_every=1, min_working_frames=2, max_working_frames=4, num_prototypes=8)
    tracker = tiny_propagator(**cfg, max_long_term_elements=20).new_tracker()
    tracker.add_permanent(0, frames[0], masks[0])
    tracker.add_permanent(10, frames[10], masks[10])
    for i, frame in enumerate(frames):
        r = tracker.step(i, frame, annotation=masks[0] if i == 0 else None)
        assert r.probs.dtype == np.float32 and np.isfinite(r.probs).all()
    tracker.feedback(11, frames[11], masks[11])
    assert tracker.memory.long_term.key.dtype == torch.bfloat16
    assert tracker.memory.long_term.use.dtype == torch.float32
