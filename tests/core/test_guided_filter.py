import cv2
import numpy as np

from vosam.ops.guided_filter import guided_upsample


def test_coarse_mask_snaps_to_the_image_edge():
    """A blocky 1/8 map of a half-plane: guided upsampling puts the 0.5 crossing on the
    image's edge and makes the step there several times sharper than bilinear does."""
    h, w = 64, 64
    img = np.zeros((h, w, 3), np.uint8)
    img[:, 36:] = 255  # edge between columns 35 and 36
    coarse = np.zeros((1, 8, 8), np.float32)
    coarse[0, :, 4:] = 1.0
    coarse[0, :, 4] = 0.5  # the cell holding the edge is mixed
    out = guided_upsample(img, coarse, radius=4, eps=1e-4, scale=2)[0]
    row = out[32]
    assert row[:20].max() < 0.01 and row[52:].min() > 0.99
    assert row[35] < 0.5 < row[36]
    bilinear = cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_LINEAR)[32]
    assert row[36] - row[35] > 4 * (bilinear[36] - bilinear[35])


def test_output_range_and_shape():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    probs = rng.random((3, 5, 7)).astype(np.float32)
    out = guided_upsample(img, probs, radius=3)
    assert out.shape == (3, 40, 50) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1


def test_unclipped_filter_is_linear_and_keeps_a_partition_of_unity():
    """Maps summing to one come out summing to one, and a map already at the working
    resolution (1/scale) is used as it is."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    fg = rng.random((2, 12, 16)).astype(np.float32) / 2
    maps = np.concatenate([1 - fg.sum(0, keepdims=True), fg])
    out = guided_upsample(img, maps, radius=4, scale=4, clip=False)
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)
    one = guided_upsample(img, fg[:1], radius=4, scale=4, clip=False)
    np.testing.assert_allclose(one[0], out[1], atol=1e-6)


def test_closed_form_inverse_matches_numpy():
    from vosam.ops.guided_filter import _inverse_sym3

    rng = np.random.default_rng(2)
    a = rng.random((5, 7, 3, 3)).astype(np.float32)
    cov = a @ a.transpose(0, 1, 3, 2) + 1e-3 * np.eye(3, dtype=np.float32)
    inv = _inverse_sym3([[cov[..., i, j] for j in range(3)] for i in range(3)])
    got = np.stack([np.stack(row, -1) for row in inv], -2)
    np.testing.assert_allclose(got, np.linalg.inv(cov.astype(np.float64)), rtol=2e-3, atol=1e-3)
