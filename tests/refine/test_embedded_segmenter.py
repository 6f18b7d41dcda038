"""The embedded promptable segmenter on constructed images and on a real frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vosam.refine import Prompt, build_segmenter
from vosam.refine.embedded import EmbeddedSegmenter, EmbeddedSegmenterConfig

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
H, W = 192, 256


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _texture(rng: np.random.Generator, base: tuple[int, int, int], cell: int) -> np.ndarray:
    """A blocky random texture around colour ``base``, ``(H, W, 3)``."""
    noise = rng.integers(-40, 41, (H // cell + 1, W // cell + 1, 3))
    tex = np.kron(noise, np.ones((cell, cell, 1), np.int64))[:H, :W]
    return np.clip(np.array(base) + tex, 0, 255).astype(np.uint8)


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


@pytest.fixture(scope="module")
def seg() -> EmbeddedSegmenter:
    return build_segmenter("embedded")


@pytest.fixture(scope="module")
def scene():
    """Two reddish textured discs on a greenish textured background."""
    rng = np.random.default_rng(0)
    bg = _texture(rng, (60, 140, 70), 6)
    fg = _texture(rng, (200, 60, 50), 4)
    a, b = disc(80, 96, 40), disc(190, 90, 32)
    image = np.where((a | b)[..., None], fg, bg)
    return image, a, b


def box_of(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)


def test_registered_and_shapes(seg, scene):
    image, a, _ = scene
    assert isinstance(seg, EmbeddedSegmenter) and seg.device == "cpu"
    pred = seg.segment(image, Prompt(box=box_of(a)))
    assert pred.mask.shape == (H, W) and pred.mask.dtype == bool
    assert pred.logits.shape == (H, W) and pred.logits.dtype == np.float32
    np.testing.assert_array_equal(pred.mask, pred.logits > 0)
    assert 0.0 <= pred.score <= 1.0


def test_box_prompt_finds_the_disc(seg, scene):
    image, a, _ = scene
    pred = seg.segment(image, Prompt(box=box_of(a)))
    assert iou(pred.mask, a) > 0.9


def test_single_click_gives_the_object(seg, scene):
    image, a, _ = scene
    prompt = Prompt(points=np.array([[80, 96]], np.float32), labels=np.array([1], np.int32))
    pred = seg.segment(image, prompt)
    assert iou(pred.mask, a) > 0.85
    assert (pred.mask & ~a).sum() < 0.1 * a.sum()


def test_negative_click_removes_the_second_object(seg, scene):
    image, a, b = scene
    emb = seg.embed(image)
    box = box_of(a | b)
    both = seg.predict(emb, Prompt(box=box))
    assert (both.mask & b).sum() > 0.8 * b.sum()  # same look: the box alone takes both
    pts = np.array([[80, 96], [190, 90]], np.float32)
    one = seg.predict(emb, Prompt(box=box, points=pts, labels=np.array([1, 0], np.int32)))
    assert (one.mask & b).sum() < 0.05 * b.sum()
    assert iou(one.mask, a) > 0.85


def test_mask_prompt_snaps_to_the_edge(seg, scene):
    image, a, _ = scene
    coarse = cv2.GaussianBlur(disc(84, 99, 40).astype(np.float32), (0, 0), 6)
    pred = seg.segment(image, Prompt(mask=coarse))
    before = iou(coarse > 0.5, a)
    assert iou(pred.mask, a) > max(0.92, before + 0.03)


def test_empty_mask_prompt_gives_an_empty_answer(seg, scene):
    image, _, _ = scene
    pred = seg.segment(image, Prompt(mask=np.zeros((H, W), np.float32)))
    assert not pred.mask.any() and pred.score == 0.0


def test_mask_prompt_of_another_size_is_refused(seg, scene):
    image = scene[0]
    with pytest.raises(ValueError, match="mask prompt is"):
        seg.segment(image, Prompt(mask=np.zeros((H // 2, W), np.float32)))


def test_config_overrides_reach_the_segmenter():
    seg = build_segmenter("embedded", short_side=128)
    assert seg.config == EmbeddedSegmenterConfig(short_side=128)


@pytest.mark.skipif(not (DATA / "davis2016-train").exists(), reason="needs ../shared/data")
def test_real_frame_coarse_mask_is_refined(seg):
    root = DATA / "davis2016-train"
    image = cv2.imread(str(root / "JPEGImages/480p/bus/00010.jpg"))[..., ::-1].copy()
    gt = cv2.imread(str(root / "Annotations/480p/bus/00010.png"), cv2.IMREAD_GRAYSCALE) > 127
    small = cv2.resize(gt.astype(np.float32), (854 // 16, 480 // 16), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (854, 480), interpolation=cv2.INTER_LINEAR)
    plain = build_segmenter("embedded", net=False)
    pred = plain.segment(image, Prompt(mask=coarse, box=box_of(gt)))
    assert iou(pred.mask, gt) > iou(coarse > 0.5, gt)
    # the network moves a boundary that is off by 6 pixels, outwards or inwards
    emb = seg.embed(image)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
    for op in (cv2.dilate, cv2.erode):
        moved = op(gt.astype(np.uint8), kernel).astype(np.float32)
        moved = cv2.GaussianBlur(moved, (0, 0), 4)
        pred = seg.predict(emb, Prompt(mask=moved, box=box_of(gt)))
        assert iou(pred.mask, gt) > iou(moved > 0.5, gt) + 0.03
