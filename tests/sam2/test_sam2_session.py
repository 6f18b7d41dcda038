"""The SAM 2 engine driven by vosam's Session and directly: structure and invariants.

Random weights give meaningless masks, so these tests check what does not depend on the
weights: shapes, ids, annotated frames returned exactly, determinism, which frames each
object's memory holds, and that options change what they should.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sam2_helpers import propagator, shared_model, squares_video, write_frames

from vosam.engines.sam2.config import SAM2Config
from vosam.engines.sam2.propagator import SAM2Propagator
from vosam.engines.sam2.tracker import SAM2Tracker
from vosam.refine.base import Prompt
from vosam.session import Session, SessionConfig

N = 10


class _Recording(SAM2Propagator):
    """The engine, noting which frames its trackers were stepped on."""

    def __init__(self, **config: object) -> None:
        super().__init__(shared_model(64), config=SAM2Config(**config), device="cpu")
        self.stepped: list[int] = []

    def new_tracker(self, **kwargs: object) -> SAM2Tracker:
        tracker = super().new_tracker(**kwargs)
        step = tracker.step

        def recorded(index: int, *args: object, **kw: object):
            self.stepped.append(index)
            return step(index, *args, **kw)

        tracker.step = recorded
        return tracker


def _run(folder: Path, annotations: dict[int, np.ndarray], **kwargs) -> dict:
    engine = kwargs.pop("engine", None) or propagator(64)
    session = Session(folder, propagator=engine, config=kwargs.pop("config", None))
    for index, mask in annotations.items():
        session.add_annotation(index, mask)
    return dict(session.propagate(**kwargs))


def test_several_objects_with_annotations_on_several_frames(tmp_path: Path) -> None:
    frames, masks = squares_video(N)
    write_frames(tmp_path, frames)
    results = _run(tmp_path, {0: masks[0], 6: masks[6]})
    assert list(results) == list(range(N))
    for index, result in results.items():
        assert result.object_ids == (1, 2)
        assert result.probs.shape == (3, 48, 64) and result.probs.dtype == np.float32
        np.testing.assert_allclose(result.probs.sum(0), 1, atol=1e-5)
        assert result.confidence.shape == (2,)
        if index in (0, 6):
            np.testing.assert_array_equal(result.mask, masks[index])
            assert set(np.unique(result.probs)) == {0.0, 1.0}
    again = _run(tmp_path, {0: masks[0], 6: masks[6]})
    for index in results:
        np.testing.assert_array_equal(results[index].probs, again[index].probs)


@pytest.mark.parametrize("from_first", [True, False])
def test_object_added_mid_video_through_the_session(tmp_path: Path, from_first: bool) -> None:
    frames, masks = squares_video(N, late=6)
    write_frames(tmp_path, frames)
    config = SessionConfig(objects_from_first_annotation=from_first)
    results = _run(tmp_path, {0: masks[0], 6: masks[6]}, config=config)
    for index, result in results.items():
        assert result.object_ids == (1, 2, 5)
        if index < 6 and from_first:  # not born yet: hidden by the session
            assert not result.probs[3].any()
    # by default (XMem++) permanent memory conditions it from the start: not hidden
    assert from_first or all(results[i].probs[3].any() for i in range(1, 6))
    np.testing.assert_array_equal(results[6].mask, masks[6])


def test_object_added_mid_video_memory(tmp_path: Path) -> None:
    frames, masks = squares_video(N, late=6)
    # permanent memory: every annotated frame conditions every annotated object
    tracker = propagator(64).new_tracker()
    tracker.add_permanent(6, frames[6], masks[6])  # order of giving does not matter
    tracker.add_permanent(0, frames[0], masks[0])
    for i in range(3):
        tracker.step(i, frames[i], annotation=masks[i] if i == 0 else None)
    assert tracker.memory_frames(5) == ((0, 6), (1, 2))
    # without: the object exists from the annotation that brings it
    tracker = propagator(64).new_tracker()
    for i in range(N):
        result = tracker.step(i, frames[i], annotation=masks[i] if i in (0, 6) else None)
        assert result.object_ids == ((1, 2) if i < 6 else (1, 2, 5))
    assert tracker.memory_frames(5) == ((6,), (7, 8, 9))
    assert tracker.memory_frames(1) == ((0, 6), (1, 2, 3, 4, 5, 7, 8, 9))


def test_backward_propagation(tmp_path: Path) -> None:
    frames, masks = squares_video(N)
    write_frames(tmp_path, frames)
    results = list(_run(tmp_path, {N - 1: masks[N - 1]}, direction="backward").items())
    assert [i for i, _ in results] == list(reversed(range(N)))
    np.testing.assert_array_equal(results[0][1].mask, masks[N - 1])
    # without permanent memory, frames after the last annotation (reached first) are empty
    config = SessionConfig(permanent_memory=False)
    engine = _Recording()
    results = _run(tmp_path, {4: masks[4]}, direction="backward", config=config, engine=engine)
    assert list(results) == list(reversed(range(N)))
    assert engine.stepped == [4, 3, 2, 1, 0]
    for index in range(5, N):
        assert results[index].probs[0].min() == 1
    np.testing.assert_array_equal(results[4].mask, masks[4])


def test_frames_before_the_only_annotation_are_tracked() -> None:
    """Every conditioning frame lies ahead (SAM 2 itself fails there in float32)."""
    frames, masks = squares_video(N)
    tracker = propagator(64).new_tracker()
    tracker.add_permanent(5, frames[5], masks[5])
    for i in range(N):
        result = tracker.step(i, frames[i], annotation=masks[i] if i == 5 else None)
        assert result.object_ids == (1, 2)
    assert tracker.memory_frames(1) == ((5,), (0, 1, 2, 3, 4, 6, 7, 8, 9))


def test_click_and_box_prompts(tmp_path: Path) -> None:
    frames, masks = squares_video(N)
    write_frames(tmp_path, frames)
    config = SessionConfig(objects_from_first_annotation=True)
    session = Session(tmp_path, propagator=propagator(64), config=config)
    session.add_annotation(0, masks[0])
    session.add_prompt(3, 7, Prompt(box=np.array([40, 2, 60, 20], np.float32)))
    results = dict(session.propagate())
    for index, result in results.items():
        assert result.object_ids == (1, 2, 7)
        if index < 3:
            assert not result.probs[3].any()
    assert session.first_annotated() == {1: 0, 2: 0, 7: 3}

    tracker = propagator(64).new_tracker()
    click = Prompt(points=np.array([[50, 10]], np.float32), labels=np.array([1], np.int32))
    prob = tracker.add_prompt(3, frames[3], 7, click)
    assert prob.shape == (48, 64) and prob.dtype == np.float32
    assert prob.min() >= 0 and prob.max() <= 1
    assert tracker.memory_frames(7) == ((3,), ())


def test_feedback_changes_later_frames_and_keeps_memory_bounded() -> None:
    frames, masks = squares_video(N)
    plain, corrected = (propagator(64).new_tracker() for _ in range(2))
    for tracker in (plain, corrected):
        tracker.add_permanent(0, frames[0], masks[0])
        for i in range(5):
            tracker.step(i, frames[i], annotation=masks[i] if i == 0 else None)
    corrected.feedback(4, frames[4], masks[4])
    assert corrected.memory_frames(1) == plain.memory_frames(1) == ((0,), (1, 2, 3, 4))
    a = plain.step(5, frames[5])
    b = corrected.step(5, frames[5])
    assert np.abs(a.probs - b.probs).max() > 1e-4


def test_remove_object() -> None:
    frames, masks = squares_video(3)
    tracker = propagator(64).new_tracker()
    tracker.add_permanent(0, frames[0], masks[0])
    tracker.step(0, frames[0], annotation=masks[0])
    tracker.remove_object(1)
    result = tracker.step(1, frames[1])
    assert result.object_ids == (2,) and result.probs.shape == (2, 48, 64)
    with pytest.raises(KeyError):
        tracker.remove_object(1)


def test_bounded_conditioning_frames_select_as_sam2_does() -> None:
    """``max_conditioning_frames`` gives what SAM 2 gives with ``max_cond_frames_in_attn``."""
    frames, masks = squares_video(6)
    annotated = (0, 2, 5)  # frames 3 and 4 attend to 2 and 5 only

    def run(prop: SAM2Propagator) -> list[np.ndarray]:
        tracker = prop.new_tracker()
        for i in annotated:
            tracker.add_permanent(i, frames[i], masks[i])
        return [
            tracker.step(i, frames[i], annotation=masks[i] if i in annotated else None).probs
            for i in range(6)
        ]

    ours = run(propagator(64, max_conditioning_frames=2))
    model = shared_model(64)
    model.max_cond_frames_in_attn = 2
    try:
        theirs = run(propagator(64))
    finally:
        model.max_cond_frames_in_attn = -1
    every = run(propagator(64))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert max(np.abs(a - b).max() for a, b in zip(ours, every, strict=True)) > 1e-4


def test_offloaded_state_gives_the_same_results() -> None:
    frames, masks = squares_video(4)
    outs = []
    for offload in (False, True):
        tracker = propagator(64, offload_state=offload).new_tracker()
        tracker.add_permanent(0, frames[0], masks[0])
        outs.append([tracker.step(i, frames[i]).probs for i in range(1, 4)])
        assert tracker.storage.type == "cpu"
    for a, b in zip(*outs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_encode_key_shape() -> None:
    frames, _ = squares_video(1)
    key = propagator(64).encode_key(frames[0])
    assert key.key.shape == (256, 4, 4) and key.shrinkage is None


def test_config_checks() -> None:
    with pytest.raises(ValueError):
        SAM2Config(max_conditioning_frames=1)


def test_refiner_feedback_reaches_the_sam2_memory(tmp_path: Path) -> None:
    from vosam.refine import build_segmenter
    from vosam.refine.refiner import Refiner, RefinerConfig

    frames, masks = squares_video(4)
    write_frames(tmp_path, frames)
    engine = _Recording()
    fed: list[int] = []
    new_tracker = engine.new_tracker

    def recording_tracker(**kwargs: object) -> SAM2Tracker:
        tracker = new_tracker(**kwargs)
        feedback = tracker.feedback

        def recorded(index: int, image: np.ndarray, mask: np.ndarray) -> None:
            fed.append(index)
            feedback(index, image, mask)
            assert tracker.memory_frames(1)[1][-1] == index  # re-encoded in place

        tracker.feedback = recorded
        return tracker

    engine.new_tracker = recording_tracker
    refiner = Refiner(build_segmenter("embedded"), RefinerConfig(refine="every", gate=0))
    session = Session(tmp_path, propagator=engine, refiner=refiner)
    session.add_annotation(0, masks[0])
    results = dict(session.propagate())
    assert list(results) == [0, 1, 2, 3] and results[3].object_ids == (1, 2)
    assert fed and set(fed) <= {1, 2, 3}
