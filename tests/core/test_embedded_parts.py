"""Parts of the embedded engine against their plain definitions."""

import numpy as np
import torch
import torch.nn.functional as F

from vosam.engines.base import confidence_of, ids_from_probs
from vosam.engines.embedded.head import SegmentationHead
from vosam.engines.embedded.tracker import _bilinear_weights


def test_head_on_pixel_rows_equals_its_convolutions():
    torch.manual_seed(0)
    dense = torch.randn(2, 12, 5, 7)
    prev = torch.rand(2, 3, 5, 7)
    for mask_input in (False, True):
        head = SegmentationHead(12, 3, 8, mask_input=mask_input).eval()
        x = torch.cat([dense, prev], 1) if mask_input else dense
        with torch.no_grad():
            torch.testing.assert_close(head(dense, prev), head.net(x), atol=1e-5, rtol=1e-5)


def test_bilinear_weights_sample_as_interpolate():
    x = torch.rand(3, 6, 9)
    rows, cols = _bilinear_weights(13, 6, 6 / 13), _bilinear_weights(20, 9, 9 / 20)
    expected = F.interpolate(x[None], size=(13, 20), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(rows @ x @ cols.T, expected, atol=1e-6, rtol=1e-6)
    assert torch.allclose(rows.sum(1), torch.ones(13))


def test_masks_and_confidence_equal_the_argmax_definition_ties_included():
    rng = np.random.default_rng(0)
    probs = rng.random((4, 30, 40)).astype(np.float32)
    probs[2, :5] = probs[1, :5] = 2.0  # ties go to the lower index
    probs[3] = 0  # an object that wins nowhere
    probs /= probs.sum(0, keepdims=True)
    winner = np.argmax(probs, axis=0)
    np.testing.assert_array_equal(ids_from_probs(probs, (3, 7, 9)), np.array([0, 3, 7, 9])[winner])
    expected = [probs[k][winner == k].mean() if (winner == k).any() else 0 for k in (1, 2, 3)]
    np.testing.assert_allclose(confidence_of(probs), expected, rtol=1e-5)
    assert confidence_of(probs)[2] == 0


def test_head_trained_on_drawn_pixels_learns_and_draws_only_when_fewer():
    """``pixels`` at least the frame's size trains on every pixel (the same head as None);
    fewer draws a subset each step and still separates a linearly separable object."""
    from vosam.engines.embedded.head import train_head

    gen = torch.Generator().manual_seed(0)
    dense = torch.randn(1, 8, 12, 16, generator=gen)
    labels = (dense[:, 0] + 0.5 * dense[:, 1] > 0.3).long()  # an object the features define
    kwargs = dict(hidden=8, iters=200, mask_input=False, seed=3)
    every = train_head(dense, labels, 1, **kwargs)
    same = train_head(dense, labels, 1, pixels=12 * 16, **kwargs)
    drawn = train_head(dense, labels, 1, pixels=40, **kwargs)
    rows = dense.permute(0, 2, 3, 1).reshape(-1, 8)
    with torch.no_grad():
        a, b, c = (h.forward_rows(rows, None) for h in (every, same, drawn))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    truth = labels.reshape(-1)
    accuracy = [float((h.argmax(1) == truth).float().mean()) for h in (a, c)]
    assert accuracy[0] > 0.97 and accuracy[1] > 0.97
