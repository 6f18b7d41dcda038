"""Memory stays flat on long videos: what a tracker stores does not grow with the frame count.

The 2,000-frame run keeps SAM 2's real tracker bookkeeping but replaces the network's
per-frame call by a stand-in returning fresh tensors of the shapes the 1024-pixel model
returns (a leak of one of them per frame would add about 1 GB); the real network's per-frame
cost on this suite's budget allows a shorter run, which checks the same bound with it.
"""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np
import pytest
import torch
from sam2_helpers import fresh_model

from vosam.engines.sam2.propagator import SAM2Propagator

FAST = (
    "++model.memory_attention.num_layers=1",
    "++model.memory_attention.layer.dim_feedforward=64",
)


def _rss_bytes() -> int:
    """Resident memory of this process now (Linux), or the peak elsewhere."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * resource.getpagesize()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _tiny_clip() -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((16, 16, 3), np.uint8)
    image[4:10, 4:10] = 200
    mask = np.zeros((16, 16), np.uint8)
    mask[4:10, 4:10] = 1
    return image, mask


def _memoized_encoder(model: torch.nn.Module) -> None:
    """Every frame is the same image: encode it once (the encoder's output is a pure function
    of the image, so this changes no result)."""
    real = model.forward_image
    cache: dict[str, dict] = {}

    def forward_image(x: torch.Tensor) -> dict:
        if "out" not in cache:
            cache["out"] = real(x)
        return {k: list(v) if isinstance(v, list) else v for k, v in cache["out"].items()}

    model.forward_image = forward_image


def test_real_network_memory_is_flat() -> None:
    model = fresh_model(32, overrides=FAST)
    _memoized_encoder(model)
    tracker = SAM2Propagator(model, device="cpu").new_tracker()
    image, mask = _tiny_clip()
    tracker.add_permanent(0, image, mask)
    sizes = {}
    for i in range(50):
        tracker.step(i, image, annotation=mask if i == 0 else None)
        if i in (20, 49):
            sizes[i] = tracker.stored_bytes()
    assert tracker.window == 15  # SAM 2.1: 16 object pointers, 7 memory frames
    assert sizes[20] == sizes[49] > 0
    assert tracker.memory_frames(1) == ((0,), tuple(range(34, 50)))


def _stand_in_track_step(model: torch.nn.Module) -> None:
    """Network outputs of the 1024-pixel model's shapes, fresh tensors on every call."""
    pos = [torch.zeros(1, 64, 64, 64)]

    def track_step(**kwargs: object) -> dict:
        return {
            "pred_masks": torch.zeros(1, 1, 256, 256),
            "obj_ptr": torch.zeros(1, 256),
            "object_score_logits": torch.ones(1, 1),
            "maskmem_features": torch.ones(1, 64, 64, 64),
            "maskmem_pos_enc": pos,
        }

    model.track_step = track_step


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_two_thousand_frames_memory_is_flat() -> None:
    model = fresh_model(32)
    _memoized_encoder(model)
    _stand_in_track_step(model)
    tracker = SAM2Propagator(model, device="cpu").new_tracker()
    image, mask = _tiny_clip()
    tracker.add_permanent(0, image, mask)
    stored, rss = {}, {}
    for i in range(2000):
        tracker.step(i, image, annotation=mask if i == 0 else None)
        if i in (199, 1999):
            stored[i], rss[i] = tracker.stored_bytes(), _rss_bytes()
    assert stored[199] == stored[1999]
    assert tracker.memory_frames(1) == ((0,), tuple(range(1984, 2000)))
    assert rss[1999] - rss[199] < 64 * 2**20
