import numpy as np
import pytest

from tests.core.conftest import moving_squares, write_video_folder
from vosam.engines import build_propagator
from vosam.session import Session, SessionConfig


def _jaccard(pred, gt, k):
    inter = np.logical_and(pred == k, gt == k).sum()
    union = np.logical_or(pred == k, gt == k).sum()
    return inter / union


def test_tracks_two_objects_through_a_synthetic_video(fast_engine, squares_dir):
    folder, _images, masks = squares_dir
    session = Session(folder, propagator=fast_engine)
    session.add_annotation(0, masks[0])
    results = list(session.propagate())
    assert [i for i, _ in results] == list(range(len(masks)))
    for index, result in results:
        assert result.object_ids == (1, 2)
        assert result.probs.shape == (3, *masks.shape[1:]) and result.probs.dtype == np.float32
        np.testing.assert_allclose(result.probs.sum(0), 1.0, atol=1e-5)
        if index == 0:
            np.testing.assert_array_equal(result.mask, masks[0])
    last = results[-1][1].mask
    assert _jaccard(last, masks[-1], 1) > 0.6
    assert _jaccard(last, masks[-1], 2) > 0.6


def test_object_entering_on_a_later_annotated_frame(fast_engine, tmp_path):
    images, masks = moving_squares()
    # object 2 enters on frame 4: before that its pixels show the background
    for t in range(4):
        gone = masks[t] == 2
        images[t][gone] = images[7][masks[7] == 0][: gone.sum()]
        masks[t][gone] = 0
    folder = tmp_path / "frames"
    write_video_folder(folder, images)
    only_one = masks[0]
    session = Session(folder, propagator=fast_engine)
    session.add_annotation(0, only_one)
    session.add_annotation(4, masks[4])
    results = dict(session.propagate())
    # object 2 does not exist before its first annotation, then is tracked
    for index in range(4):
        assert not (results[index].mask == 2).any()
    np.testing.assert_array_equal(results[4].mask, masks[4])
    assert _jaccard(results[7].mask, masks[7], 2) > 0.5


def test_permanent_memory_changes_frames_before_a_later_annotation(fast_engine, squares_dir):
    folder, _images, masks = squares_dir
    later = masks[6].copy()

    def run(permanent):
        s = Session(
            folder, propagator=fast_engine, config=SessionConfig(permanent_memory=permanent)
        )
        s.add_annotation(0, masks[0])
        s.add_annotation(6, later)
        return dict(s.propagate())

    with_perm, without = run(True), run(False)
    assert not np.array_equal(with_perm[3].probs, without[3].probs)
    np.testing.assert_array_equal(with_perm[6].mask, later)


def test_unknown_engine_and_stray_checkpoint():
    with pytest.raises(ValueError, match="unknown engine"):
        build_propagator("nope")
    with pytest.raises(ValueError, match="no checkpoint"):
        build_propagator("embedded-v1", checkpoint="x.pth")
    from vosam.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"x\.npz: no such parent model file"):
        build_propagator("embedded", checkpoint="x.npz")


def test_memory_engines_refuse_click_prompts_by_their_interface(fast_engine):
    from vosam.types import Prompt

    tracker = fast_engine.new_tracker()
    assert tracker.takes_prompts is False
    images, _ = moving_squares(frames=1)
    box = Prompt(box=np.array([0, 0, 4, 4], np.float32))
    with pytest.raises(NotImplementedError, match="EmbeddedTracker tracker takes no click"):
        tracker.add_prompt(0, images[0], 1, box)


def test_results_are_repeatable(fast_engine):
    images, masks = moving_squares(frames=4)
    out = []
    for _ in range(2):
        tracker = fast_engine.new_tracker()
        tracker.step(0, images[0], annotation=masks[0])
        out.append(tracker.step(1, images[1]).probs)
    np.testing.assert_array_equal(out[0], out[1])


def test_memory_stays_bounded_on_a_long_video():
    """Working memory is consolidated and long-term memory capped: the element count stops
    growing however long the video is."""
    import dataclasses

    from tests.core.conftest import FAST
    from vosam.engines.embedded import EmbeddedPropagator
    from vosam.memory import MemoryConfig

    memory = MemoryConfig(
        top_k=10,
        min_working_frames=2,
        max_working_frames=3,
        max_long_term_elements=40,
        num_prototypes=8,
    )
    engine = EmbeddedPropagator(dataclasses.replace(FAST, memory=memory), device="cpu")
    images, masks = moving_squares(frames=10)
    tracker = engine.new_tracker()
    tracker.step(0, images[0], annotation=masks[0])
    per_frame = tracker.memory.permanent.size  # one frame's keys at stride 16
    assert per_frame == 8 * 11  # 96×128 frames seen at 128×171
    sizes = []
    for t in range(1, 60):
        frame = t % 20 if t % 20 < 10 else 19 - t % 20  # forward and back
        tracker.step(t, images[frame])
        sizes.append(tracker.memory.size)
        assert tracker.memory.long_term.size <= 200
        assert tracker.memory.working.size <= 3 * per_frame
    bound = per_frame + 3 * per_frame + 200  # permanent + working + long-term
    assert max(sizes) <= bound
    assert sizes[-1] == sizes[-11]  # flat once long-term memory is full


def test_keys_are_projected_on_the_first_annotations_principal_directions():
    from vosam.engines.embedded import EmbeddedPropagator
    from vosam.engines.embedded.config import EmbeddedConfig

    images, masks = moving_squares()
    engine = EmbeddedPropagator(EmbeddedConfig(short_side=64, key_dims=8), device="cpu")
    tracker = engine.new_tracker()
    tracker.step(0, images[0], annotation=masks[0])
    basis = tracker._basis
    assert basis.shape == (8, tracker.extractor(images[0]).key.shape[0])
    # orthonormal rows: a projection, not an arbitrary linear map
    np.testing.assert_allclose((basis @ basis.T).numpy(), np.eye(8), atol=1e-5)
    key = tracker._key(tracker.extractor(images[1]))
    assert key.shape[0] == 8
    np.testing.assert_allclose(key.norm(dim=0).numpy(), 1.0, atol=1e-4)
    # the first frame's keys keep most of their energy in the fitted subspace
    full = tracker.extractor(images[0]).key.flatten(1)
    kept = (basis @ full).norm(dim=0) / full.norm(dim=0)
    assert float(kept.mean()) > 0.8
    # asking for as many dimensions as the key has keeps it unchanged
    wide = EmbeddedPropagator(EmbeddedConfig(short_side=64, key_dims=10_000), device="cpu")
    wide_tracker = wide.new_tracker()
    feats = wide_tracker.extractor(images[0])
    assert wide_tracker._key(feats).data_ptr() == feats.key.data_ptr()
