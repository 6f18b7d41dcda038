"""The Cutie engine gives the reference implementation's probabilities.

``data/parity_{base,small}.npz`` hold probabilities computed by Cutie's own code (the
official repository's inference core and network, run outside this project in float32 on
the CPU with its evaluation settings: ``mem_every`` 5, ``max_mem_frames`` 5, ``top_k`` 30,
``stagger_updates`` 5, no long-term memory, all objects at once, frames shrunk to
``size`` by its loader and probabilities resized back), on :func:`parity_video` with the
random weights of :func:`official_state`. The scenario: objects 1 and 2 annotated on frame
0, memory frames 5, 10, ..., object 3 entering on frame 12 from an annotation holding it
alone (the others are predicted there); on ``small``, 28 frames, so that the first group's
memory drops frames first in, first out. Stored: every propagated frame's probabilities
``(background, 1, 2, 3)`` on every 4th pixel, and base's last frame whole.
"""

from __future__ import annotations

import numpy as np
import pytest
from cutie_helpers import DATA, official_state, parity_video

from vosam.engines.cutie import CutieConfig, CutiePropagator, network_from_state_dict


def checksum(state: dict) -> float:
    return float(sum(v.double().abs().sum() for v in state.values()))


@pytest.mark.parametrize("model", ["base", "small"])
def test_probabilities_match_the_reference(model: str) -> None:
    fixture = np.load(DATA / f"parity_{model}.npz")
    state = official_state(model)
    assert checksum(state) == pytest.approx(float(fixture["checksum"]), rel=1e-12), (
        "the random weights differ from those the fixture was computed with"
    )
    config = CutieConfig(size=int(fixture["size"]), partial_annotations=True)
    engine = CutiePropagator(network_from_state_dict(state), config=config, device="cpu")
    frames, annotations = parity_video(int(fixture["frames"]))
    tracker = engine.new_tracker()
    probs = []
    for index, frame in enumerate(frames):
        result = tracker.step(index, frame, annotation=annotations.get(index))
        full = np.zeros((4, *frame.shape[:2]), np.float32)
        full[[0, *result.object_ids]] = result.probs
        probs.append(full)
    expected = fixture["sub"]
    assert expected.shape[0] == len(frames) - 1
    # not a trivial comparison: the reference's objects are uncertain on many pixels
    assert ((expected[:, 1:] > 0.2) & (expected[:, 1:] < 0.8)).sum() > 100
    got = np.stack(probs[1:])[:, :, 1::4, 1::4]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    if "last" in fixture:
        np.testing.assert_allclose(probs[-1], fixture["last"], rtol=0, atol=1e-4)
