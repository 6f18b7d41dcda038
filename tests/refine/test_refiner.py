"""The refiner: gate, overlaps by score, vanishing detection, re-finding, and feedback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from vosam.engines.base import Propagator, StepResult, Tracker, confidence_of, onehot
from vosam.io.frames import FrameSource
from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter
from vosam.refine.refiner import Refiner, RefinerConfig, compose
from vosam.refine.vanishing import ObjectHistory, VanishingConfig, count_fragments, degradation
from vosam.session import Session

H, W = 60, 80


def box_mask(box) -> np.ndarray:
    """bool (H, W) filled over the inclusive box (x0, y0, x1, y1)."""
    m = np.zeros((H, W), bool)
    x0, y0, x1, y1 = (int(v) for v in box)
    m[y0 : y1 + 1, x0 : x1 + 1] = True
    return m


def rect(y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


class ScriptedSegmenter(PromptableSegmenter):
    """Answers ``answer(prompt) -> (mask, score)``; records the prompts it is given."""

    name = "scripted"

    def __init__(self, answer: Callable[[Prompt], tuple[np.ndarray, float]]):
        self.answer = answer
        self.prompts: list[Prompt] = []
        self.embedded = 0

    @property
    def device(self) -> str:
        return "cpu"

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        self.embedded += 1
        return ImageEmbedding(size=image.shape[:2], data=None)

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        self.prompts.append(prompt)
        mask, score = self.answer(prompt)
        return Prediction(mask, score, np.where(mask, 5.0, -5.0).astype(np.float32))


def grow(score: float, by: int = 2) -> Callable[[Prompt], tuple[np.ndarray, float]]:
    """A segmenter answer: the prompt's box enlarged by ``by`` pixels."""

    def answer(prompt: Prompt) -> tuple[np.ndarray, float]:
        x0, y0, x1, y1 = prompt.box
        return box_mask((x0 - by, y0 - by, x1 + by, y1 + by)), score

    return answer


def result_of(masks: dict[int, np.ndarray], value: float = 0.9) -> StepResult:
    """A propagated frame: each object has probability ``value`` on its mask."""
    ids = tuple(sorted(masks))
    probs = np.zeros((len(ids) + 1, H, W), np.float32)
    probs[0] = 1.0
    for k, oid in enumerate(ids, 1):
        probs[k][masks[oid]] = value
        probs[0][masks[oid]] = 1 - value
    return StepResult(probs, ids, confidence_of(probs))


IMAGE = np.zeros((H, W, 3), np.uint8)


# -- gate and overlaps ------------------------------------------------------------------------


def test_gate_rejects_low_quality_and_keeps_the_propagated_mask():
    refiner = Refiner(ScriptedSegmenter(grow(0.93)), RefinerConfig(refine="every"))
    result = result_of({1: rect(20, 40, 20, 40)})
    out = refiner.refine(refiner.new_state(), 1, IMAGE, result)
    assert out.refined == {1: "every"} and out.scores == {1: 0.93}
    assert out.accepted == ()
    assert out.result is result


def test_gate_accepts_and_replaces_the_mask_exactly():
    refiner = Refiner(ScriptedSegmenter(grow(0.95)), RefinerConfig(refine="every"))
    result = result_of({1: rect(20, 40, 20, 40)})
    out = refiner.refine(refiner.new_state(), 1, IMAGE, result)
    assert out.accepted == (1,)
    expected = rect(18, 42, 18, 42)
    np.testing.assert_array_equal(out.result.mask, expected.astype(np.uint8))
    changed = expected & ~rect(20, 40, 20, 40)
    np.testing.assert_array_equal(out.result.probs[1][changed], 1.0)
    # untouched pixels keep the propagator's probabilities
    np.testing.assert_array_equal(out.result.probs[:, ~changed], result.probs[:, ~changed])


def test_every_mode_prompt_is_what_the_config_asks_for():
    seg = ScriptedSegmenter(grow(0.99))
    refiner = Refiner(seg, RefinerConfig(refine="every", mode="bbox"))
    refiner.refine(refiner.new_state(), 1, IMAGE, result_of({1: rect(20, 40, 20, 40)}))
    (prompt,) = seg.prompts
    np.testing.assert_array_equal(prompt.box, [20, 20, 39, 39])
    assert prompt.points is None and prompt.mask is None


@pytest.mark.parametrize(("s1", "s2", "winner"), [(0.99, 0.96, 1), (0.96, 0.99, 2)])
def test_overlaps_go_to_the_higher_score(s1, s2, winner):
    def answer(prompt):
        # each object's refined mask grows 4 px to the right/left into the other's side
        x0, y0, x1, y1 = prompt.box
        return box_mask((x0 - 4, y0, x1 + 4, y1)), s1 if x0 < 40 else s2

    refiner = Refiner(ScriptedSegmenter(answer), RefinerConfig(refine="every"))
    result = result_of({1: rect(10, 30, 10, 40), 2: rect(10, 30, 40, 70)})
    out = refiner.refine(refiner.new_state(), 1, IMAGE, result)
    assert out.accepted == (1, 2)
    mask = out.result.mask
    assert (mask[10:30, 36:44] == winner).all()  # the strip both claim
    assert (mask[10:30, 6:36] == 1).all() and (mask[10:30, 44:74] == 2).all()


def test_compose_ranks_unrefined_objects_by_confidence():
    result = result_of({1: rect(10, 30, 10, 40), 2: rect(10, 30, 40, 70)}, value=0.98)
    refined = {1: rect(10, 30, 10, 50)}
    out = compose(result, refined, {1: 0.95})
    # object 2 (confidence 0.98) keeps its pixels against the refined object 1 (0.95)
    assert (out.mask[10:30, 40:50] == 2).all()
    out = compose(result, refined, {1: 0.99})
    assert (out.mask[10:30, 40:50] == 1).all()
    np.testing.assert_allclose(out.probs.sum(0), 1.0, atol=1e-6)


# -- vanishing detection ----------------------------------------------------------------------


def test_degradation_reasons():
    cfg = VanishingConfig()
    hist = ObjectHistory()
    assert degradation(hist, 400, 0.9, 1, cfg) is None  # nothing to compare with
    for _ in range(5):
        hist.push(400, 0.9, 1, cfg.history)
    assert degradation(hist, 380, 0.88, 1, cfg) is None
    assert degradation(hist, 200, 0.9, 1, cfg) == "area"
    assert degradation(hist, 400, 0.7, 1, cfg) == "confidence"
    assert degradation(hist, 400, 0.9, 3, cfg) == "fragments"
    assert degradation(hist, 5, 0.9, 1, cfg) == "vanished"
    assert count_fragments(rect(0, 10, 0, 10) | rect(20, 30, 0, 10) | rect(50, 52, 0, 2), 20) == 2


def run_sequence(refiner, results):
    state = refiner.new_state()
    refiner.observe(state, 0, results[0])
    return [refiner.refine(state, i, IMAGE, r) for i, r in enumerate(results[1:], 1)], state


def test_vanishing_mode_refines_only_degrading_frames():
    steady = [result_of({1: rect(20, 40, 20, 40)}) for _ in range(6)]
    collapse = result_of({1: rect(20, 28, 20, 40)})  # 160 px against 400
    faint = result_of({1: rect(20, 40, 20, 40)}, value=0.6)
    broken = rect(20, 40, 20, 40) & ~rect(0, H, 26, 28) & ~rect(0, H, 32, 34)  # 3 pieces
    seq = [*steady, collapse, *steady[:2], faint, *steady[:2], result_of({1: broken})]
    seg = ScriptedSegmenter(grow(0.5))
    outs, state = run_sequence(Refiner(seg, RefinerConfig(refine="vanishing")), seq)
    reasons = {i: o.refined[1] for i, o in enumerate(outs, 1) if o.refined}
    assert reasons == {6: "area", 9: "confidence", 12: "fragments"}
    assert seg.embedded == 3 == state.frames_refined
    # every-frame mode refines them all
    seg = ScriptedSegmenter(grow(0.5))
    outs, _ = run_sequence(Refiner(seg, RefinerConfig(refine="every")), seq)
    assert all(o.refined == {1: "every"} for o in outs) and seg.embedded == len(seq) - 1


def faded(where: np.ndarray, value: float) -> StepResult:
    """The object lost by the argmax: only a faint probability ``value`` at ``where``."""
    probs = np.zeros((2, H, W), np.float32)
    probs[1][where] = value
    probs[0] = 1 - probs[1]
    return StepResult(probs, (1,), confidence_of(probs))


def test_a_vanished_object_is_found_again_where_the_tracker_still_sees_it():
    seq = [result_of({1: rect(20, 40, 20, 40)}) for _ in range(4)]
    seq.append(faded(rect(30, 45, 50, 70), 0.3))  # it moved and faded below 0.5
    seg = ScriptedSegmenter(grow(0.97, by=0))
    outs, _ = run_sequence(Refiner(seg, RefinerConfig(refine="vanishing")), seq)
    last = outs[-1]
    assert last.refined == {1: "vanished"} and last.accepted == (1,)
    np.testing.assert_array_equal(seg.prompts[-1].box, [50, 30, 69, 44])
    np.testing.assert_array_equal(last.result.mask, rect(30, 45, 50, 70).astype(np.uint8))


def test_no_refinding_without_a_trace_or_too_long_after():
    seq = [result_of({1: rect(20, 40, 20, 40)}) for _ in range(2)]
    seq.append(faded(rect(30, 45, 50, 70), 0.1))  # below the re-finding threshold
    seg = ScriptedSegmenter(grow(0.97))
    outs, _ = run_sequence(Refiner(seg, RefinerConfig(refine="vanishing")), seq)
    assert outs[-1].refined == {} and seg.prompts == []
    seq = [result_of({1: rect(20, 40, 20, 40)}), *[faded(rect(30, 45, 50, 70), 0.3)] * 4]
    # rejected answers leave the last good mask at frame 0: looked for on frames 1 and 2 only
    rejecting = ScriptedSegmenter(grow(0.5))
    outs, _ = run_sequence(
        Refiner(rejecting, RefinerConfig(refine="vanishing", refind_frames=2)), seq
    )
    assert [bool(o.refined) for o in outs] == [True, True, False, False]
    # an accepted re-found mask is the new last good one: the object stays found
    outs, _ = run_sequence(Refiner(seg, RefinerConfig(refine="vanishing", refind_frames=2)), seq)
    assert [o.accepted for o in outs] == [(1,)] * 4
    outs, _ = run_sequence(Refiner(seg, RefinerConfig(refine="vanishing", refind=False)), seq)
    assert not any(o.refined for o in outs)


def test_config_refuses_bad_settings():
    with pytest.raises(ValueError, match="prompt mode"):
        RefinerConfig(mode="boxes")
    with pytest.raises(ValueError, match="refine"):
        RefinerConfig(refine="sometimes")
    with pytest.raises(ValueError, match="gate"):
        RefinerConfig(gate=1.5)


# -- inside a session: feedback ---------------------------------------------------------------


class ArraySource(FrameSource):
    def __init__(self, count: int):
        super().__init__(Path("memory"), tuple(f"{i:05d}" for i in range(count)), (H, W))

    def read(self, index: int) -> np.ndarray:
        return np.full((H, W, 3), index, np.uint8)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        for i in range(start, len(self) if stop is None else stop):
            yield i, self.read(i)

    def source_file(self, index: int) -> str:
        return self.names[index]


class ScriptedTracker(Tracker):
    def __init__(self, masks):
        self.masks = masks
        self.fed: list[tuple[int, np.ndarray]] = []
        self._ids: tuple[int, ...] = ()

    @property
    def object_ids(self):
        return self._ids

    def add_permanent(self, index, image, mask):
        self._ids = tuple(sorted(set(self._ids) | {int(v) for v in np.unique(mask) if v}))

    def step(self, index, image, *, annotation=None):
        if annotation is not None:
            probs = onehot(annotation, self._ids)
            return StepResult(probs, self._ids, confidence_of(probs))
        return result_of({1: self.masks[index]})

    def feedback(self, index, image, mask):
        self.fed.append((index, mask.copy()))

    def remove_object(self, object_id):
        raise NotImplementedError


class ScriptedPropagator(Propagator):
    name = "scripted"

    def __init__(self, masks):
        self.masks = masks
        self.trackers: list[ScriptedTracker] = []

    def encode_key(self, image):
        raise NotImplementedError

    def new_tracker(self):
        self.trackers.append(ScriptedTracker(self.masks))
        return self.trackers[-1]

    @property
    def device(self):
        return "cpu"


@pytest.mark.parametrize(("feedback", "gate"), [(True, 0.94), (False, 0.94), (True, 0.99)])
def test_session_refines_and_feeds_accepted_masks_back(feedback, gate):
    masks = [rect(20, 40, 20, 40)] * 4
    engine = ScriptedPropagator(masks)
    refiner = Refiner(
        ScriptedSegmenter(grow(0.97)), RefinerConfig(refine="every", feedback=feedback, gate=gate)
    )
    session = Session(ArraySource(4), propagator=engine, refiner=refiner)
    session.add_annotation(0, masks[0].astype(np.uint8))
    out = dict(session.propagate())
    tracker = engine.trackers[-1]
    accepted = gate <= 0.97
    expected = rect(18, 42, 18, 42) if accepted else masks[0]
    np.testing.assert_array_equal(out[0].mask, masks[0].astype(np.uint8))  # the annotation
    for i in (1, 2, 3):
        np.testing.assert_array_equal(out[i].mask, expected.astype(np.uint8))
    if feedback and accepted:
        assert [i for i, _ in tracker.fed] == [1, 2, 3]
        np.testing.assert_array_equal(tracker.fed[0][1], expected.astype(np.uint8))
    else:
        assert tracker.fed == []
    assert session.refine_state.frames_refined == 3
    assert session.refine_state.masks_accepted == (3 if accepted else 0)
