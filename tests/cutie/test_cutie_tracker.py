"""The Cutie inference core with tiny random weights: memory policy, objects, XMem++."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from cutie_helpers import parity_video, tiny_propagator
from PIL import Image

from vosam.engines.cutie import CutieConfig
from vosam.engines.cutie.preprocess import geometry, prepare_masks


def tags(part) -> list[int]:
    return [tag for _, tag in part.frames]


def run(tracker, frames, annotations):
    return [tracker.step(i, f, annotation=annotations.get(i)) for i, f in enumerate(frames)]


def test_annotated_frames_are_their_annotation_and_others_probabilities() -> None:
    frames, annotations = parity_video(14)
    results = run(tiny_propagator().new_tracker(), frames, annotations)
    np.testing.assert_array_equal(results[0].mask, annotations[0])
    assert results[0].object_ids == (1, 2) and results[13].object_ids == (1, 2, 3)
    for r in results[1:]:
        assert r.probs.dtype == np.float32 and r.probs.shape[1:] == (90, 117)
        np.testing.assert_allclose(r.probs.sum(0), 1, atol=1e-5)
    # the annotation holding object 3 alone is, without partial annotations, the truth
    np.testing.assert_array_equal(results[12].mask, annotations[12])


def test_a_late_object_forms_its_own_group_which_keeps_its_first_frame() -> None:
    frames, annotations = parity_video(28)
    tracker = tiny_propagator(partial_annotations=True).new_tracker()
    results = run(tracker, frames, annotations)
    first, late = tracker.memory.groups
    assert (first.ids, late.ids) == ([1, 2], [3])
    # memory frames 0, 5, 10, 12 (annotation), 17, 22, 27; each group keeps its first one
    # and the newest max_mem_frames - 1 = 4 others
    assert (tags(first.store.permanent), tags(first.store.working)) == ([0], [12, 17, 22, 27])
    assert (tags(late.store.permanent), tags(late.store.working)) == ([12], [17, 22, 27])
    # the partial annotation: objects 1 and 2 keep their prediction outside object 3
    on_12 = results[12]
    inside = annotations[12] == 3
    assert (on_12.mask[inside] == 3).all()
    assert on_12.probs[1:3][:, inside].max() < 1e-6 and on_12.probs[1:3][:, ~inside].max() > 0.05


@pytest.mark.parametrize(("every", "n"), [(5, 5), (5, 3), (5, 2), (5, 1), (10, 4), (3, 7)])
def test_sensory_steps_are_spread_as_in_cutie(every: int, n: int) -> None:
    if n >= every:
        expected = set(range(1, every + 1))
    else:
        expected = {int(x) for x in np.round(np.linspace(1, every, n))}
    assert CutieConfig(mem_every=every, stagger_updates=n).sensory_steps == expected


def test_the_decoder_refreshes_sensory_memory_only_on_its_steps() -> None:
    frames, annotations = parity_video(7)
    tracker = tiny_propagator(stagger_updates=1).new_tracker()  # frame 1 after a memory frame
    seen = []
    for i, frame in enumerate(frames):
        tracker.step(i, frame, annotation=annotations.get(i))
        seen.append(tracker._sensory[1].clone())
    changed = [not torch.equal(a, b) for a, b in itertools.pairwise(seen)]
    # frame 1: decoder; 2-4: nothing; 5: memory frame (deep update); 6: decoder again
    assert changed == [True, False, False, False, True, True]


def test_permanent_frames_hold_every_object_in_one_group_and_are_not_written_twice() -> None:
    frames, _ = parity_video(14)
    truth = np.zeros((14, 90, 117), np.uint8)
    for i in range(14):  # whole annotations of frames 0 and 12 from the colours
        truth[i][(frames[i] == (230, 60, 40)).all(-1)] = 1
        truth[i][(frames[i] == (40, 200, 80)).all(-1)] = 2
        truth[i][(frames[i] == (60, 80, 240)).all(-1)] = 3
    tracker = tiny_propagator().new_tracker()
    tracker.add_permanent(0, frames[0], truth[0])
    tracker.add_permanent(12, frames[12], truth[12])
    results = run(tracker, frames, {0: truth[0], 12: truth[12]})
    (group,) = tracker.memory.groups
    assert group.ids == [1, 2, 3]
    assert tags(group.store.permanent) == [0, 12]
    assert tags(group.store.working) == [5, 10]  # the annotated frames are not duplicated
    assert all(r.object_ids == (1, 2, 3) for r in results)
    np.testing.assert_array_equal(results[12].mask, truth[12])


def test_feedback_replaces_the_frames_memory_and_its_share_of_object_memory() -> None:
    frames, annotations = parity_video(6)
    tracker = tiny_propagator().new_tracker()
    run(tracker, frames, annotations)  # frame 5 is a memory frame
    corrected = annotations[0]
    tracker.feedback(5, frames[5], corrected)
    once = (tracker.memory.summaries([1, 2]).clone(), tags(tracker.memory.groups[0].store.working))
    tracker.feedback(5, frames[5], corrected)
    twice = (tracker.memory.summaries([1, 2]), tags(tracker.memory.groups[0].store.working))
    assert once[1] == twice[1] == [5]
    torch.testing.assert_close(once[0], twice[0], rtol=0, atol=1e-5)


def test_removing_an_object_keeps_the_others_ids_and_drops_an_empty_group() -> None:
    frames, annotations = parity_video(16)
    tracker = tiny_propagator(partial_annotations=True).new_tracker()
    run(tracker, frames[:14], annotations)
    tracker.remove_object(3)
    tracker.remove_object(1)
    assert [g.ids for g in tracker.memory.groups] == [[2]]
    result = tracker.step(14, frames[14])
    assert result.object_ids == (2,) and result.probs.shape == (2, 90, 117)
    assert tracker.step(15, frames[15]).probs[1].max() > 0.05


def test_frames_are_shrunk_only_when_their_shorter_side_is_longer_than_size() -> None:
    assert geometry(480, 854, 480).resized == (480, 854)
    assert geometry(240, 432, 480).resized == (240, 432)  # never enlarged
    geo = geometry(1080, 1920, 480)
    assert geo.resized == (480, 853) and geo.padded == (480, 864)
    assert geo.pad == (5, 6, 0, 0)
    assert geometry(90, 117, 80).resized == (80, 104)
    assert geometry(1080, 1920, -1).resized == (1080, 1920)


def test_masks_are_shrunk_like_pil_nearest() -> None:
    """Cutie's loader resizes masks with PIL's nearest filter."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=(97, 131), dtype=np.uint8)
    geo = geometry(97, 131, 60)
    pil = np.array(Image.fromarray(labels).resize(geo.resized[::-1], Image.NEAREST))
    hot = torch.from_numpy((labels[None] == np.arange(1, 4)[:, None, None]).astype(np.float32))
    ours = prepare_masks(hot, geo)
    left, _, top, _ = geo.pad
    ours = ours[:, top : top + geo.resized[0], left : left + geo.resized[1]]
    got = (ours * torch.arange(1, 4)[:, None, None]).sum(0).numpy().astype(np.uint8)
    np.testing.assert_array_equal(got, pil)
