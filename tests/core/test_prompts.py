"""Click/box prompts with every engine: made into masks for the engines that take masks,
given to SAM 2 as they are; bad prompts refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.core.conftest import moving_squares, write_video_folder
from tests.threads import one_thread  # noqa: F401 (autouse fixture)
from vosam.errors import InputError
from vosam.prompt_masks import merge_annotation, merge_predictions
from vosam.refine.base import ImageEmbedding, Prediction, Prompt, PromptableSegmenter
from vosam.session import Session

BOX_1 = np.array([10, 20, 33, 43], np.float32)  # object 1 of moving_squares on frame 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1))


@pytest.fixture(scope="module")
def segmenter() -> PromptableSegmenter:
    from vosam.refine import build_segmenter

    return build_segmenter("embedded", device="cpu")


@pytest.fixture(scope="module")
def squares(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    images, masks = moving_squares(6)
    folder = tmp_path_factory.mktemp("frames")
    write_video_folder(folder, images)
    return folder, images, masks


class _Painter(PromptableSegmenter):
    """A segmenter that paints each prompt's box (logit = the box's x0, to order overlaps)."""

    name = "painter"
    device = "cpu"

    def __init__(self) -> None:
        self.embedded = 0

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        self.embedded += 1
        return ImageEmbedding(image.shape[:2], None)

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        x0, y0, x1, y1 = prompt.box.astype(int)
        mask = np.zeros(embedding.size, bool)
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
        return Prediction(mask, 1.0, np.full(embedding.size, float(x0), np.float32))


def test_a_box_gives_the_objects_mask_and_it_propagates(squares, fast_engine, segmenter):
    folder, _images, masks = squares
    session = Session(folder, propagator=fast_engine, segmenter=segmenter)
    session.add_prompt(0, 1, Prompt(box=BOX_1))
    results = dict(session.propagate())
    made = session.prompt_masks[0]
    assert iou(made == 1, masks[0] == 1) > 0.95
    np.testing.assert_array_equal(results[0].mask, made)  # the prompted frame is its mask
    assert results[0].object_ids == (1,)
    for index in (3, 5):
        assert iou(results[index].mask == 1, masks[index] == 1) > 0.75


def test_xmem_propagates_the_prompt_made_mask_as_an_annotation(squares, segmenter):
    from tests.xmem.xmem_helpers import tiny_propagator

    folder, _images, masks = squares
    engine = tiny_propagator()
    prompted = Session(folder, propagator=engine, segmenter=segmenter)
    prompted.add_prompt(0, 1, Prompt(box=BOX_1))
    by_prompt = dict(prompted.propagate())
    made = prompted.prompt_masks[0]
    assert iou(made == 1, masks[0] == 1) > 0.95
    annotated = Session(folder, propagator=engine)
    annotated.add_annotation(0, made)
    by_mask = dict(annotated.propagate())
    assert list(by_prompt) == list(range(len(masks)))
    for index, result in by_prompt.items():
        np.testing.assert_array_equal(result.probs, by_mask[index].probs)


def test_sam2_takes_the_prompt_itself(squares):
    pytest.importorskip("sam2", reason="the sam2 extra is not installed")
    from tests.sam2.sam2_helpers import propagator

    folder, _images, masks = squares

    class _Unused(_Painter):
        def embed(self, image):
            raise AssertionError("an engine that takes prompts needs no segmenter")

    session = Session(folder, propagator=propagator(64), segmenter=_Unused())
    shown = session.add_prompt(0, 2, Prompt(box=np.array([80, 10, 99, 29], np.float32)))
    results = list(session.propagate())
    assert [i for i, _ in results] == list(range(len(masks)))
    assert all(r.object_ids == (2,) for _, r in results)
    made = session.prompt_masks[0]
    assert made.shape == masks[0].shape and set(np.unique(made)) <= {0, 2}
    np.testing.assert_array_equal(shown, made == 2)  # add_prompt gave what SAM 2 predicts
    again = Session(folder, propagator=propagator(64), segmenter=_Unused())
    again.add_prompt(0, 2, Prompt(box=np.array([80, 10, 99, 29], np.float32)))
    for (_, a), (_, b) in zip(results, again.propagate(), strict=True):
        np.testing.assert_array_equal(a.probs, b.probs)


def test_a_negative_click_takes_out_what_the_box_alone_took(segmenter):
    images, masks = moving_squares(1)
    image = images[0]
    box = np.array([8, 8, 101, 45], np.float32)  # around both squares
    alone = segmenter.segment(image, Prompt(box=box)).mask
    assert (alone[masks[0] == 1]).mean() > 0.95 and (alone[masks[0] == 2]).mean() > 0.9
    clicks = Prompt(
        box=box,
        points=np.array([[22, 32], [90, 20]], np.float32),
        labels=np.array([1, 0], np.int32),
    )
    kept = segmenter.segment(image, clicks).mask
    assert (kept[masks[0] == 1]).mean() > 0.95
    assert not kept[masks[0] == 2].any()


def test_a_negative_click_cuts_back_a_part_that_looks_the_same(segmenter):
    """An L of one texture: clicked on its left square only, the segmenter takes the whole
    L; a negative click on the right part takes most of that part out."""
    rng = np.random.default_rng(0)
    h, w = 192, 256
    image = np.kron(
        (rng.random((h // 8, w // 8, 3)) * 120).astype(np.uint8), np.ones((8, 8, 1), np.uint8)
    )
    left = np.zeros((h, w), bool)
    left[60:120, 40:100] = True
    part = np.zeros((h, w), bool)
    part[60:120, 100:160] = True
    texture = np.zeros((16, 16, 3), np.uint8)
    texture[..., 0] = 230
    texture[::4] = (250, 250, 40)
    image[left | part] = np.tile(texture, (h // 16, w // 16, 1))[left | part]
    embedding = segmenter.embed(image)

    def clicks(points, labels):
        prompt = Prompt(points=np.array(points, np.float32), labels=np.array(labels, np.int32))
        return segmenter.predict(embedding, prompt).mask

    positive = clicks([[70, 90]], [1])
    assert positive[left].mean() > 0.95 and positive[part].mean() > 0.9
    cut = clicks([[70, 90], [130, 90]], [1, 0])
    assert cut[left].mean() > 0.95 and cut[part].mean() < 0.7


def test_prompt_masks_join_the_frames_annotation(squares):
    folder, _images, masks = squares
    painter = _Painter()
    session = Session(folder, propagator=_Recorder(), segmenter=painter)
    annotation = np.zeros_like(masks[0])
    annotation[0:10, 0:10] = 3  # object 3 drawn
    annotation[50:60, 50:60] = 1  # object 1 drawn, then prompted: the prompt replaces it
    annotation[0:2, 100:128] = 255
    session.add_annotation(0, annotation)
    session.add_prompt(0, 1, Prompt(box=np.array([5, 5, 20, 20], np.float32)))
    session.add_prompt(0, 2, Prompt(box=np.array([15, 0, 110, 8], np.float32)))
    session.add_prompt(2, 4, Prompt(box=np.array([0, 0, 3, 3], np.float32)))
    list(session.propagate(stop=3))
    given = session.propagator.given
    expected = np.zeros_like(annotation)
    expected[5:21, 5:21] = 1
    expected[0:9, 15:111] = 2  # overlaps object 1: the larger logit (x0) wins
    expected[0:10, 0:10] = 3  # the drawn object wins over every prompt
    expected[0:2, 100:128] = 255  # void stays void
    np.testing.assert_array_equal(given[0], expected)
    box4 = np.zeros_like(annotation)
    box4[0:4, 0:4] = 4
    # frame 2 is known from a prompt of object 4 alone: a partial annotation, kept out of
    # permanent memory and painted over the prediction when the frame is played
    assert 2 not in given
    np.testing.assert_array_equal(session.propagator.stepped[2], box4)
    assert session.first_annotated() == {1: 0, 2: 0, 3: 0, 4: 2}
    assert painter.embedded == 2  # one embedding per prompted frame
    list(session.propagate(stop=3))
    assert painter.embedded == 2  # masks made once


def test_merge_helpers_exact():
    size = (2, 3)
    a = Prediction(np.array([[1, 1, 0], [0, 0, 0]], bool), 1.0, np.full(size, 2.0, np.float32))
    b = Prediction(np.array([[0, 1, 1], [0, 0, 0]], bool), 1.0, np.full(size, 5.0, np.float32))
    np.testing.assert_array_equal(merge_predictions({1: a, 7: b}, size), [[1, 7, 7], [0, 0, 0]])
    ann = np.array([[7, 3, 0], [7, 255, 0]], np.uint8)
    made = np.array([[0, 7, 7], [0, 7, 0]], np.uint8)
    np.testing.assert_array_equal(merge_annotation(ann, made, (7,)), [[0, 3, 7], [0, 255, 0]])


@pytest.mark.parametrize(
    ("index", "oid", "prompt", "problem"),
    [
        (0, 1, Prompt(box=np.array([0, 0, 128, 10], np.float32)), "outside the 128×96 frame"),
        (0, 1, Prompt(box=np.array([-1, 0, 10, 10], np.float32)), "outside"),
        (0, 1, Prompt(box=np.array([5, 5, 5, 20], np.float32)), "zero area"),
        (0, 1, Prompt(box=np.array([9, 5, 5, 20], np.float32)), "zero area"),
        (
            0,
            1,
            Prompt(points=np.array([[10, 96]], np.float32), labels=np.array([1], np.int32)),
            "click 10,96 is outside",
        ),
        (
            0,
            1,
            Prompt(points=np.array([[10, 9]], np.float32), labels=np.array([0], np.int32)),
            "positive click",
        ),
        (6, 1, Prompt(box=BOX_1), "frame 6 is not in the video"),
    ],
)
def test_bad_prompts_are_refused(squares, index, oid, prompt, problem):
    session = Session(squares[0], propagator=_Recorder())
    with pytest.raises(InputError, match=problem):
        session.add_prompt(index, oid, prompt)
    assert session.prompts == {} and session.objects.ids == ()


@pytest.mark.parametrize("oid", [0, 255, 300])
def test_object_ids_outside_1_to_254_are_refused(squares, oid):
    with pytest.raises(ValueError, match=r"1\.\.254"):
        Session(squares[0], propagator=_Recorder()).add_prompt(0, oid, Prompt(box=BOX_1))


class _Recorder:
    """A stand-in engine whose trackers note the annotations they are given and answer
    with them (or background)."""

    name = "recorder"
    device = "cpu"

    def __init__(self) -> None:
        self.given: dict[int, np.ndarray] = {}  # to permanent memory
        self.stepped: dict[int, np.ndarray] = {}  # with a frame's step

    def new_tracker(self):
        from vosam.engines.base import StepResult, Tracker, confidence_of, onehot

        given, stepped = self.given, self.stepped

        class _Tracker(Tracker):
            ids: tuple[int, ...] = ()

            @property
            def object_ids(self):
                return self.ids

            def add_permanent(self, index, image, mask):
                given[index] = mask.copy()
                found = {int(i) for i in np.unique(mask) if 0 < i < 255}
                self.ids = tuple(sorted(set(self.ids) | found))

            def step(self, index, image, *, annotation=None):
                if annotation is not None:
                    stepped[index] = annotation.copy()
                    found = {int(i) for i in np.unique(annotation) if 0 < i < 255}
                    self.ids = tuple(sorted(set(self.ids) | found))
                mask = annotation if annotation is not None else np.zeros(image.shape[:2], np.uint8)
                probs = onehot(mask, self.ids)
                return StepResult(probs, self.ids, confidence_of(probs))

            def feedback(self, index, image, mask):
                pass

            def remove_object(self, object_id):
                pass

        return _Tracker()


def test_a_later_box_for_a_new_object_keeps_the_objects_tracked_so_far(squares):
    """Object 1 from a mask on frame 0, object 2 from a box on frame 3: frame 3 says nothing
    about object 1, so the box's mask is painted over the prediction there (object 1 stays)
    and frame 3 is not put in permanent memory as if object 1 were absent."""
    from tests.core.test_session import Oracle, OraclePropagator, only

    class _Oracle(Oracle):
        takes_prompts = False

    class _Engine(OraclePropagator):
        def new_tracker(self):
            self.trackers.append(_Oracle(self.truth))
            return self.trackers[-1]

    folder, _images, masks = squares
    engine = _Engine(masks)
    session = Session(folder, propagator=engine, segmenter=_Painter())
    session.add_annotation(0, only(masks[0], 1))
    session.add_prompt(3, 2, Prompt(box=np.array([0, 0, 3, 3], np.float32)))
    steps = list(session.run())
    tracker = engine.trackers[-1]  # the run's (add_prompt made one to ask takes_prompts)
    assert [c for c in tracker.calls if c[0] == "permanent"] == [("permanent", 0)]
    assert ("step", 3, False) in tracker.calls and ("step", 3, True) in tracker.calls
    box = np.zeros_like(masks[3])
    box[0:4, 0:4] = 2
    assert (only(masks[3], 1) > 0).any()
    np.testing.assert_array_equal(steps[3].mask, np.where(box > 0, 2, only(masks[3], 1)))
    for t in range(3):
        assert not (steps[t].mask == 2).any()  # object 2 is born on frame 3


def test_add_prompt_returns_the_mask_it_made_at_once(squares):
    """The mask comes back from add_prompt, before any propagation; objects prompted on
    one frame share one embedding, and a changed prompt is segmented again alone."""
    folder, _images, masks = squares
    painter = _Painter()
    session = Session(folder, propagator=_Recorder(), segmenter=painter)
    box1 = np.zeros_like(masks[0], bool)
    box1[20:44, 10:34] = True
    shown = session.add_prompt(0, 1, Prompt(box=BOX_1))
    assert shown.dtype == bool
    np.testing.assert_array_equal(shown, box1)
    box2 = np.zeros_like(box1)
    box2[30:61, 20:51] = True
    shown = session.add_prompt(0, 2, Prompt(box=np.array([20, 30, 50, 60], np.float32)))
    np.testing.assert_array_equal(shown, box2)  # object 2's x0 is larger: it wins the overlap
    expected = np.where(box2, 2, np.where(box1, 1, 0)).astype(np.uint8)
    np.testing.assert_array_equal(session.prompt_masks[0], expected)
    assert painter.embedded == 1
    shown = session.add_prompt(0, 1, Prompt(box=np.array([60, 0, 70, 10], np.float32)))
    assert shown.sum() == 11 * 11 and painter.embedded == 1
    session.add_prompt(3, 1, Prompt(box=BOX_1))
    assert painter.embedded == 2
    list(session.propagate(stop=4))
    assert painter.embedded == 2  # propagation uses the masks made
    session.remove_object(2)
    list(session.propagate(stop=4))
    assert painter.embedded == 3  # frame 0 is made again without object 2
    assert set(np.unique(session.prompt_masks[0])) == {0, 1}


def test_prompt_is_exported_from_the_package():
    import vosam

    assert vosam.Prompt is Prompt and "Prompt" in vosam.__all__
