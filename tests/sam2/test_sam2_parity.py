"""One tracker step after another against sam2's own SAM2VideoPredictor on the same weights.

The predictor loads a JPEG folder whole; vosam's tracker gets the same decoded frames one at a
time. Mask annotations on two frames, a box + click prompt for a third object, forward and
backward: every propagated probability must be the same, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sam2_helpers import shared_model, squares_video

from vosam.engines.aggregate import soft_aggregate
from vosam.engines.sam2.propagator import SAM2Propagator
from vosam.refine.base import Prompt

# sam2's hole filling needs its compiled extension and skips itself with a warning without it
pytestmark = pytest.mark.filterwarnings("ignore:cannot import name '_C':UserWarning")

N = 9
BOX = np.array([20, 2, 40, 20], np.float32)  # x0, y0, x1, y1 around part of the background
CLICK = np.array([[30, 10]], np.float32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray], list]:
    folder = tmp_path_factory.mktemp("jpeg")
    frames, masks = squares_video(N)
    decoded = []
    for i, frame in enumerate(frames):
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(frame).save(path, quality=95)
        decoded.append(np.asarray(Image.open(path).convert("RGB")))
    return folder, decoded, masks


def _reference_probs(video_res_logits: torch.Tensor) -> np.ndarray:
    prob = torch.sigmoid(video_res_logits[:, 0].float())
    return soft_aggregate(prob, dim=0).numpy()


@torch.inference_mode()
def test_forward_with_masks_on_two_frames_and_a_box_click_prompt(clip) -> None:
    folder, frames, masks = clip
    model = shared_model(64)
    state = model.init_state(str(folder))
    for index in (0, 6):
        for oid in (1, 2):
            model.add_new_mask(state, index, oid, masks[index] == oid)
    model.add_new_points_or_box(state, 0, 3, points=CLICK, labels=np.array([1]), box=BOX)
    expected = {i: _reference_probs(m) for i, _, m in model.propagate_in_video(state)}

    tracker = SAM2Propagator(model, device="cpu").new_tracker(num_frames=N)
    for index in (0, 6):
        tracker.add_permanent(index, frames[index], masks[index])
    prompt = Prompt(box=BOX, points=CLICK, labels=np.array([1], np.int32))
    tracker.add_prompt(0, frames[0], 3, prompt)
    compared = 0
    for i in range(N):
        annotation = masks[i] if i in (0, 6) else None
        result = tracker.step(i, frames[i], annotation=annotation)
        assert result.object_ids == (1, 2, 3)
        if annotation is None:
            np.testing.assert_allclose(result.probs, expected[i], rtol=0, atol=0)
            compared += 1
    assert compared == N - 2


@torch.inference_mode()
def test_backward_from_the_last_frame(clip) -> None:
    folder, frames, masks = clip
    model = shared_model(64)
    state = model.init_state(str(folder))
    for oid in (1, 2):
        model.add_new_mask(state, N - 1, oid, masks[N - 1] == oid)
    expected = {i: _reference_probs(m) for i, _, m in model.propagate_in_video(state, reverse=True)}
    assert sorted(expected) == list(range(N))

    tracker = SAM2Propagator(model, device="cpu").new_tracker(num_frames=N)
    tracker.add_permanent(N - 1, frames[N - 1], masks[N - 1])
    for i in reversed(range(N)):
        annotation = masks[i] if i == N - 1 else None
        result = tracker.step(i, frames[i], annotation=annotation)
        if annotation is None:
            np.testing.assert_allclose(result.probs, expected[i], rtol=0, atol=0)
