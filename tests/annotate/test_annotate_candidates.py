"""Annotation-candidate selection (XMem++ diversity algorithm) on constructed inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vosam.annotate import blend_key, coverage, dissimilarity, select_frames, suggest_frames
from vosam.engines.base import KeyFeatures, Propagator, Tracker
from vosam.memory import similarity

H, W = 64, 96


class PixelPropagator(Propagator):
    """A stand-in engine whose keys are 8×8-pooled colours (no shrinkage or selection)."""

    name = "pixels"

    def encode_key(self, image: np.ndarray) -> KeyFeatures:
        x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
        return KeyFeatures(F.avg_pool2d(x, 8)[0])

    def new_tracker(self) -> Tracker:
        raise NotImplementedError

    @property
    def device(self) -> str:
        return "cpu"


def scene_video(n: int = 8, odd: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A square drifting over one background, except frame ``odd``: another scene."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 100, size=(H, W, 3), dtype=np.uint8)
    frames, masks = [], []
    for i in range(n):
        frame, mask = background.copy(), np.zeros((H, W), dtype=np.uint8)
        frame[20:40, 10 + 2 * i : 30 + 2 * i] = (220, 50, 50)
        mask[20:40, 10 + 2 * i : 30 + 2 * i] = 1
        frames.append(frame)
        masks.append(mask)
    frames[odd] = rng.integers(150, 255, size=(H, W, 3), dtype=np.uint8)
    frames[odd][30:50, 40:80] = (30, 30, 220)
    masks[odd] = np.zeros((H, W), dtype=np.uint8)
    masks[odd][30:50, 40:80] = 2
    return frames, masks


def xmem_like(seed: int, base: torch.Tensor, offset: float) -> KeyFeatures:
    g = torch.Generator().manual_seed(seed)
    key = base + offset + 0.05 * torch.randn(base.shape, generator=g)
    shrink = 1 + torch.rand(1, *base.shape[1:], generator=g)
    sel = torch.rand(base.shape, generator=g)
    return KeyFeatures(key, shrink, sel)


def test_blend_weighs_object_pixels_twice_as_much() -> None:
    key = torch.ones(2, 4, 6)
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[:16] = 3  # the first row of key cells
    out = blend_key(KeyFeatures(key), mask).key
    assert torch.equal(out[:, 0], torch.ones(2, 6))
    assert torch.equal(out[:, 1:], torch.full((2, 3, 6), 0.5))


def test_dissimilarity_follows_its_definition() -> None:
    g = torch.Generator().manual_seed(1)
    a = KeyFeatures(
        torch.randn(3, 2, 2, generator=g),
        1 + torch.rand(1, 2, 2, generator=g),
        torch.rand(3, 2, 2, generator=g),
    )
    b = KeyFeatures(
        torch.randn(3, 2, 2, generator=g),
        1 + torch.rand(1, 2, 2, generator=g),
        torch.rand(3, 2, 2, generator=g),
    )
    ka, sa, ea = (t.flatten(1) for t in (a.key, a.shrinkage, a.selection))
    kb, sb, eb = (t.flatten(1) for t in (b.key, b.shrinkage, b.selection))
    s_ab = similarity(ka, kb, shrinkage=sa, selection=eb)
    s_ba = similarity(kb, ka, shrinkage=sb, selection=ea)
    total = sum(max(float(s_ab[i, j] - s_ba[j, i]), 0.0) for i in range(4) for j in range(4))
    assert dissimilarity(a, b) == pytest.approx(total / 16, rel=1e-5)
    # without shrinkage/selection: mean squared distance to the nearest element of A
    plain_a, plain_b = KeyFeatures(a.key), KeyFeatures(b.key)
    nearest = torch.cdist(kb.T, ka.T).pow(2).min(1).values.mean()
    assert dissimilarity(plain_a, plain_b) == pytest.approx(float(nearest), rel=1e-5)


def test_prefers_the_frame_unlike_the_annotated_ones_with_xmem_style_keys() -> None:
    base = torch.randn(8, 4, 6, generator=torch.Generator().manual_seed(0))
    features = [xmem_like(i, base, 3.0 if i == 6 else 0.0) for i in range(10)]
    masks = [np.ones((H, W), dtype=np.uint8)] * 10
    picked = select_frames(features, masks, [0], k=3)
    assert picked[0] == 6
    assert len(set(picked)) == 3 and 0 not in picked


def test_prefers_the_odd_scene_on_a_constructed_video() -> None:
    frames, masks = scene_video()
    picked = suggest_frames(PixelPropagator(), frames, masks, annotated=[0], k=3)
    assert picked[0] == 5
    assert len(picked) == 3 == len(set(picked)) and 0 not in picked


def test_frames_with_tiny_masks_are_never_suggested() -> None:
    frames, masks = scene_video()
    masks[5] = np.zeros((H, W), dtype=np.uint8)
    masks[5][0, :15] = 1  # 15 pixels = 0.24 % of 64×96
    assert coverage(masks[5]) < 0.0025
    masks[3] = np.zeros((H, W), dtype=np.uint8)
    picked = suggest_frames(PixelPropagator(), frames, masks, annotated=[0, 7], k=10)
    assert sorted(picked) == [1, 2, 4, 6]


def test_suggestions_are_distinct_valid_frames_with_xmem_features() -> None:
    from vosam.engines.xmem import XMemArch, XMemConfig, XMemNetwork, XMemPropagator

    torch.manual_seed(0)
    prop = XMemPropagator(XMemNetwork(XMemArch.tiny()), config=XMemConfig(size=-1), device="cpu")
    frames, masks = scene_video()
    picked = suggest_frames(prop, frames, masks, annotated=[0, 2], k=4)
    assert len(picked) == 4 == len(set(picked))
    assert not {0, 2} & set(picked) and all(0 <= i < 8 for i in picked)


def test_bad_arguments_are_refused() -> None:
    frames, masks = scene_video(3, odd=2)
    feats = [PixelPropagator().encode_key(f) for f in frames]
    with pytest.raises(ValueError, match="at least one annotated"):
        select_frames(feats, masks, [])
    with pytest.raises(ValueError, match="3 feature maps but 2 masks"):
        select_frames(feats, masks[:2], [0])
    with pytest.raises(ValueError, match="must lie in"):
        select_frames(feats, masks, [3])
