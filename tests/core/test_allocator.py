"""Returning the C allocator's freed memory: the call, and how often the engine makes it."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from tests.core.conftest import FAST, moving_squares
from vosam import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_pages_are_returned():
    blocks = [np.ones(12_000) for _ in range(200)]  # 96 KB each: on the heap, not mapped
    del blocks[::2]
    assert allocator.trim_heap() is True


def test_the_engine_trims_every_configured_number_of_frames(monkeypatch):
    from vosam.engines.embedded import EmbeddedPropagator
    from vosam.engines.embedded import tracker as tracker_module

    calls = []
    monkeypatch.setattr(tracker_module, "trim_heap", lambda: calls.append(True) or True)
    images, masks = moving_squares(frames=7)
    for every, expected in ((3, 2), (0, 0)):
        calls.clear()
        engine = EmbeddedPropagator(dataclasses.replace(FAST, trim_every=every), device="cpu")
        tracker = engine.new_tracker()
        tracker.step(0, images[0], annotation=masks[0])
        for t in range(1, 7):
            tracker.step(t, images[t])
        assert len(calls) == expected  # after steps 3 and 6; never with 0
    with pytest.raises(ValueError, match="trim_every"):
        dataclasses.replace(FAST, trim_every=-1)
