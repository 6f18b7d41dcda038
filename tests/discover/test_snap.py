"""Snapping coarse masks to image edges (colour graph cut)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vosam.discover.snap import SnapConfig, snap_mask


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red disc (radius 30) on a noisy green-grey ground, 160×200: image and truth."""
    rng = np.random.default_rng(seed)
    image = np.empty((160, 200, 3), np.uint8)
    image[:] = rng.integers(60, 120, (160, 200, 1)).astype(np.uint8) * np.array([1, 1, 1], np.uint8)
    image[..., 1] = np.clip(image[..., 1].astype(int) + 40, 0, 255)
    truth = np.zeros((160, 200), np.uint8)
    cv2.circle(truth, (100, 80), 30, 1, -1)
    image[truth > 0] = (220, 40, 40)
    image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
    return image, truth > 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_a_blocky_mask_snaps_to_the_object():
    image, truth = _scene()
    # the stride-16 blob a coarse foreground gives: the truth's 16-pixel cells, grown
    cells = cv2.resize(truth.astype(np.uint8), (200 // 16, 160 // 16), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(cells, (200, 160), interpolation=cv2.INTER_NEAREST) > 0
    coarse = cv2.dilate(coarse.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert _iou(coarse, truth) < 0.8
    snapped = snap_mask(image, coarse)
    assert _iou(snapped, truth) > 0.95
    half = snap_mask(image, coarse, config=SnapConfig(min_side=0))  # cut at half size
    assert _iou(half, truth) > 0.9


def test_confident_pixels_stay_and_far_pixels_stay_out():
    image, truth = _scene(1)
    coarse = cv2.dilate(truth.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    prob = np.where(truth, 0.95, 0.5).astype(np.float32)
    snapped = snap_mask(image, coarse, prob, SnapConfig())
    inner = cv2.erode(truth.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert snapped[inner].all()
    far = cv2.dilate(coarse.astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    assert not snapped[far].any()


def test_tiny_or_empty_masks_are_returned_unchanged():
    image, _ = _scene()
    tiny = np.zeros((160, 200), bool)
    tiny[5:8, 5:8] = True
    assert snap_mask(image, tiny) is not None
    np.testing.assert_array_equal(snap_mask(image, tiny), tiny)
    empty = np.zeros((160, 200), bool)
    np.testing.assert_array_equal(snap_mask(image, empty), empty)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="scale"):
        SnapConfig(scale=0)
    with pytest.raises(ValueError, match="iterations"):
        SnapConfig(iterations=0)
