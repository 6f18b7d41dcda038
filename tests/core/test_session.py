import numpy as np
import pytest

from vosam.engines import StepResult
from vosam.engines.base import onehot
from vosam.errors import InputError, MaskSizeError
from vosam.playback import Order, x3_order
from vosam.session import Session, SessionConfig


def test_no_annotation_is_an_error(fast_engine, squares_dir):
    folder, _, _ = squares_dir
    session = Session(folder, propagator=fast_engine)
    with pytest.raises(InputError, match="no annotation"):
        next(session.propagate())


@pytest.mark.parametrize("fill", [0, 255])
def test_an_annotation_without_objects_is_an_input_error(fast_engine, squares_dir, fill):
    folder, images, _ = squares_dir
    session = Session(folder, propagator=fast_engine)
    session.add_annotation(0, np.full(images.shape[1:3], fill, np.uint8))
    with pytest.raises(InputError, match="no object to track"):
        next(session.propagate())


def test_annotation_checks(fast_engine, squares_dir):
    folder, _, masks = squares_dir
    session = Session(folder, propagator=fast_engine)
    with pytest.raises(InputError, match="frame 99 is not in the video"):
        session.add_annotation(99, masks[0])
    with pytest.raises(MaskSizeError, match="is 10×5 but frames are 128×96"):
        session.add_annotation(0, np.zeros((5, 10), np.uint8))


def test_objects_keep_their_ids_across_removal(fast_engine, squares_dir):
    folder, _, masks = squares_dir
    session = Session(folder, propagator=fast_engine)
    session.add_annotation(0, masks[0], names={2: "blue"})
    assert session.objects.ids == (1, 2)
    assert session.objects.names[2] == "blue"
    session.remove_object(1)
    assert session.objects.ids == (2,)
    assert set(np.unique(session.annotations[0])) == {0, 2}
    results = dict(session.propagate(stop=3))
    assert results[2].object_ids == (2,)
    assert set(np.unique(results[2].mask)) <= {0, 2}
    assert session.first_annotated() == {2: 0}


# -- playing orders, partial annotations, first appearance ------------------------------


class Oracle:
    """A tracker that predicts the true mask of frame ``step`` restricted to the objects it
    was told of, and records every call."""

    def __init__(self, truth: np.ndarray):
        self.truth, self.ids, self.calls = truth, set(), []

    @property
    def object_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.ids))

    def _learn(self, mask: np.ndarray) -> None:
        self.ids |= {int(i) for i in np.unique(mask) if 0 < i < 255}

    def add_permanent(self, index, image, mask):
        self.calls.append(("permanent", index))
        self._learn(mask)

    def step(self, index, image, *, annotation=None):
        self.calls.append(("step", index, annotation is not None))
        if annotation is not None:
            self._learn(annotation)
            mask = annotation
        else:
            truth = self.truth[index % len(self.truth)]
            mask = np.where(np.isin(truth, self.object_ids), truth, 0).astype(np.uint8)
        probs = onehot(mask, self.object_ids)
        return StepResult(probs, self.object_ids, np.ones(len(self.ids), np.float32))

    def feedback(self, index, image, mask):
        self.calls.append(("feedback", index))


class OraclePropagator:
    name = "oracle"

    def __init__(self, truth: np.ndarray):
        self.truth, self.trackers = truth, []

    def new_tracker(self) -> Oracle:
        self.trackers.append(Oracle(self.truth))
        return self.trackers[-1]


def only(mask: np.ndarray, object_id: int) -> np.ndarray:
    return np.where(mask == object_id, object_id, 0).astype(np.uint8)


def test_orders_play_their_steps():
    assert Order.FORWARD.plays(5, 1, 4) == [(1, 1), (2, 2), (3, 3)]
    assert Order.BACKWARD.plays(5, 0, 3) == [(2, 2), (1, 1), (0, 0)]
    x3 = Order.X3.plays(4)
    assert [i for _, i in x3] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [s for s, _ in x3] == list(range(10))
    with pytest.raises(ValueError, match="whole video"):
        Order.X3.plays(4, 1)


def test_partial_annotation_is_painted_over_the_prediction(squares_dir):
    """Object 2 enters on frame 3, drawn alone there: the tracker first predicts frame 3,
    then gets object 2 painted over that prediction; the partial mask never goes to
    permanent memory, and object 2 is nowhere before frame 3."""
    folder, _, masks = squares_dir
    engine = OraclePropagator(masks)
    session = Session(folder, propagator=engine)
    session.add_annotation(0, only(masks[0], 1))
    entering = np.zeros_like(masks[3])
    entering[15:40, 20:90] = 2  # overlaps object 1 and the background
    session.add_annotation(3, entering, partial=True)
    steps = list(session.run())
    (tracker,) = engine.trackers
    assert tracker.calls == [
        ("permanent", 0),
        ("step", 0, True),
        ("step", 1, False),
        ("step", 2, False),
        ("step", 3, False),
        ("step", 3, True),
        *[("step", t, False) for t in range(4, 8)],
    ]
    assert [(s.step, s.index) for s in steps] == [(t, t) for t in range(8)]
    for t in range(3):
        np.testing.assert_array_equal(steps[t].mask, only(masks[t], 1))
    np.testing.assert_array_equal(steps[3].mask, np.where(entering > 0, 2, only(masks[3], 1)))
    for t in range(4, 8):
        np.testing.assert_array_equal(steps[t].mask, masks[t])
    assert all(s.result.object_ids == (1, 2) for s in steps)


@pytest.mark.parametrize("from_first", [False, True])
def test_whole_annotation_replaces_the_frame_and_goes_to_permanent_memory(squares_dir, from_first):
    folder, _, masks = squares_dir
    engine = OraclePropagator(masks)
    config = SessionConfig(objects_from_first_annotation=from_first)
    session = Session(folder, propagator=engine, config=config)
    session.add_annotation(0, only(masks[0], 1))
    session.add_annotation(3, only(masks[3], 2))
    steps = list(session.run())
    (tracker,) = engine.trackers
    assert tracker.calls[:2] == [("permanent", 0), ("permanent", 3)]
    assert ("step", 3, False) not in tracker.calls
    np.testing.assert_array_equal(steps[3].mask, only(masks[3], 2))  # object 1 erased there
    # object 2 is known from permanent memory: found before its first annotation (XMem++,
    # the default), or absent there with objects_from_first_annotation
    for t in range(3):
        want = only(masks[t], 1) if from_first or t == 0 else masks[t]
        np.testing.assert_array_equal(steps[t].mask, want)


def test_nothing_is_played_before_a_first_partial_annotation(squares_dir):
    folder, _, masks = squares_dir
    engine = OraclePropagator(masks)
    session = Session(folder, propagator=engine)
    session.add_annotation(2, only(masks[2], 1), partial=True)
    steps = list(session.run())
    (tracker,) = engine.trackers
    assert tracker.calls[0] == ("step", 2, True)  # no permanent memory, no prediction first
    assert not steps[0].mask.any() and not steps[1].mask.any()
    np.testing.assert_array_equal(steps[5].mask, only(masks[5], 1))


@pytest.mark.parametrize("hide", [True, False])
def test_backward_counts_first_annotations_in_playing_order(squares_dir, hide):
    """Backward from frame 7: object 1 is annotated there, object 2 on frame 3 only, so
    object 2 exists on frames 3..0 (the first it is played on after its annotation)."""
    folder, _, masks = squares_dir
    config = SessionConfig(objects_from_first_annotation=hide)
    session = Session(folder, propagator=OraclePropagator(masks), config=config)
    session.add_annotation(7, only(masks[7], 1))
    session.add_annotation(3, only(masks[3], 2))
    results = dict(session.propagate(direction="backward"))
    assert sorted(results) == list(range(8))
    for t in range(8):
        want = masks[t] if t < 3 or not hide else only(masks[t], 1)
        if t in (3, 7):  # the annotations, whole truth of their frames
            want = only(masks[t], 2 if t == 3 else 1)
        np.testing.assert_array_equal(results[t].mask, want, err_msg=f"frame {t}")


def test_reverse_from_a_last_frame_annotation_finds_the_objects_everywhere(
    fast_engine, squares_dir
):
    folder, images, masks = squares_dir
    last = len(images) - 1
    for permanent in (True, False):
        config = SessionConfig(permanent_memory=permanent)
        session = Session(folder, propagator=fast_engine, config=config)
        session.add_annotation(last, masks[last])
        results = dict(session.propagate(direction="backward"))
        assert sorted(results) == list(range(len(images)))
        for t, result in results.items():
            for oid in (1, 2):
                hit = (result.mask == oid) & (masks[t] == oid)
                assert hit.sum() > 0.2 * (masks[t] == oid).sum(), (permanent, t, oid)


def test_x3_gives_annotations_on_first_visits_only(squares_dir):
    folder, _, masks = squares_dir
    engine = OraclePropagator(masks)
    session = Session(folder, propagator=engine)
    session.add_annotation(0, masks[0])
    session.add_annotation(2, only(masks[2], 2), partial=True)
    steps = list(session.run(order=Order.X3))
    (tracker,) = engine.trackers
    assert [(s.step, s.index) for s in steps] == list(enumerate(x3_order(8)))
    annotated = [c[1] for c in tracker.calls if c[0] == "step" and c[2]]
    assert annotated == [0, 2]  # frame 0 again at step 14, frame 2 at steps 12 and 16: not
    assert [c[1] for c in tracker.calls if c[0] == "step"] == [0, 1, 2, 2, *range(3, 22)]
    assert tracker.calls[0] == ("permanent", 0)
