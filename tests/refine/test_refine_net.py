"""The embedded refiner's network: architecture, weights files, shipped weights."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vosam.refine.embedded.refine_net import (
    COARSE_GAIN,
    WEIGHTS,
    RefineNet,
    near_boundary,
    net_inputs,
    net_size,
    refine_probability,
)


def _scene(h: int = 96, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A bright square on a dark background and its exact mask."""
    image = np.full((h, w, 3), 30, np.uint8)
    mask = np.zeros((h, w), bool)
    mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    image[mask] = (220, 200, 180)
    return image, mask


def test_untrained_network_returns_the_coarse_logit():
    # the output layer starts at zero: the correction is nothing until trained
    net = RefineNet(width=4).eval()
    prob = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 2, 2)
    logits = net(torch.zeros(1, 3, 2, 2), prob)
    expected = COARSE_GAIN * (2 * prob - 1)
    torch.testing.assert_close(logits, expected)


def test_sizes_follow_the_quarter_resolution():
    assert net_size((480, 854)) == (120, 214)
    assert net_size((3, 3)) == (1, 1)
    image, mask = _scene(37, 53)
    x, p = net_inputs(image, mask.astype(np.float32))
    assert x.shape == (3, 9, 13) and p.shape == (9, 13)
    out = refine_probability(RefineNet(width=4), image, mask.astype(np.float32))
    assert out.shape == (9, 13) and out.dtype == np.float32


def test_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    net = RefineNet(width=4, dilations=(1, 3))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    net.eval()
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = RefineNet.load(path)
    assert loaded.width == 4 and loaded.dilations == (1, 3)
    image, mask = _scene()
    a = refine_probability(net, image, mask.astype(np.float32))
    b = refine_probability(loaded, image, mask.astype(np.float32))
    np.testing.assert_allclose(a, b, atol=2e-3)  # stored as float16


def test_bad_weights_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no refinement network weights"):
        RefineNet.load(tmp_path / "absent.npz")
    net = RefineNet(width=4)
    path = tmp_path / "net.npz"
    net.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "out.bias"}
    np.savez(tmp_path / "cut.npz", **arrays)
    with pytest.raises(ValueError, match="do not match"):
        RefineNet.load(tmp_path / "cut.npz")


def test_shipped_weights_are_small_and_sharpen_a_blurred_edge():
    assert WEIGHTS.stat().st_size < 2_000_000
    net = RefineNet.load()
    assert sum(p.numel() for p in net.parameters()) < 100_000
    image, mask = _scene(192, 256)
    coarse = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 8)
    coarse = np.roll(coarse, 6, axis=1)  # a blurred mask, shifted by 6 pixels
    out = refine_probability(net, image, coarse)
    h, w = out.shape
    target = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    _, before = net_inputs(image, coarse)
    assert np.abs(out - target).mean() < 0.8 * np.abs(before - target).mean()


def test_segmenter_uses_the_weights_it_is_given(tmp_path):
    from vosam.refine import Prompt, build_segmenter

    with pytest.raises(FileNotFoundError, match="no refinement network weights"):
        build_segmenter("embedded", net=True, net_weights=str(tmp_path / "absent.npz"))
    # a network whose correction pushes every pixel to background empties any mask prompt
    net = RefineNet(width=4)
    torch.nn.init.constant_(net.out.bias, -50.0)
    net.save(tmp_path / "background.npz")
    weights = str(tmp_path / "background.npz")
    seg = build_segmenter("embedded", net=True, net_weights=weights, net_band=1000.0)
    image, mask = _scene()
    pred = seg.segment(image, Prompt(mask=mask.astype(np.float32)))
    assert not pred.mask.any() and pred.score == 0.0
    plain = build_segmenter("embedded", net=False)
    assert plain.segment(image, Prompt(mask=mask.astype(np.float32))).mask.any()
    # with a band, the network's answer counts only near the prompt's boundary
    banded = build_segmenter("embedded", net=True, net_weights=weights, net_band=2.0)
    kept = banded.segment(image, Prompt(mask=mask.astype(np.float32))).mask
    assert kept.any() and kept.sum() < mask.sum()


def test_band_is_the_ring_around_the_boundary():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    expected = np.ones((5, 5), bool)
    expected[2, 2] = False  # the centre is 2 pixels inside
    expected[[0, 0, 4, 4], [0, 4, 0, 4]] = False  # the corners are 1.4 pixels outside
    np.testing.assert_array_equal(near_boundary(mask, 1.0), expected)
    assert not near_boundary(np.ones((5, 5), bool), 3.0).any()
