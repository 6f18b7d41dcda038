"""The working resolution: the shorter side at its target unless the longer one would pass
the cap; ordinary frames exactly as before the cap existed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vosam.devices import resolve_device
from vosam.discover.motion import _grey
from vosam.engines.embedded.features import FeatureExtractor
from vosam.engines.xmem.preprocess import geometry
from vosam.errors import DeviceError
from vosam.ops.working_size import MAX_LONG_SIDE, working_size

# (H, W) → working (h, w) at short side 480: ordinary frames keep the shorter side at 480
ORDINARY = {
    (480, 854): (480, 854),
    (240, 432): (480, 864),
    (853, 480): (853, 480),
    (720, 480): (720, 480),
}


def test_ordinary_frames_keep_the_short_side_rule() -> None:
    assert MAX_LONG_SIDE == 1024
    for size, expected in ORDINARY.items():
        h, w = size
        s = 480 / min(h, w)
        assert working_size(size, 480) == expected == (round(h * s), round(w * s))


def test_very_wide_and_tall_frames_are_capped_on_the_long_side() -> None:
    assert working_size((100, 2000), 480) == (51, 1024)
    assert working_size((2000, 100), 480) == (1024, 51)
    assert working_size((100, 2000), 480, max_long_side=None) == (480, 9600)
    assert working_size((400, 1200), 240, max_long_side=512) == (171, 512)


def test_the_embedded_extractor_uses_the_capped_size() -> None:
    extractor = FeatureExtractor.__new__(FeatureExtractor)  # sizes only, no weights
    extractor.short_side, extractor.max_long_side = 480, MAX_LONG_SIDE
    assert extractor.input_size((100, 2000)) == (51, 1024)
    for size, expected in ORDINARY.items():
        assert extractor.input_size(size) == expected


def test_xmem_geometry_is_capped_and_otherwise_unchanged() -> None:
    for (h, w), _ in ORDINARY.items():
        short, long = min(h, w), max(h, w)
        new_long = int(480 * long / short)
        expected = (480, new_long) if h <= w else (new_long, 480)
        assert geometry(h, w, 480).resized == expected
    geo = geometry(100, 2000, 480)
    assert geo.resized == (51, 1024) and geo.padded == (64, 1024)
    assert geometry(100, 2000, -1).resized == (100, 2000)


def test_discovery_flow_frames_are_capped() -> None:
    assert _grey(np.zeros((100, 2000, 3), np.uint8), 160).shape == (51, 1024)
    assert _grey(np.zeros((480, 854, 3), np.uint8), 160).shape == (160, 285)


def test_a_missing_gpu_is_a_device_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match=f"device '{name}': torch sees no CUDA device"):
            resolve_device(name)
    with pytest.raises(DeviceError, match="not a device name"):
        resolve_device("gpu0")
