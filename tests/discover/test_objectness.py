"""Learned objectness: weights file, scoring, training, and its place in discovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.discover.conftest import need_data
from vosam.discover import DiscoverConfig
from vosam.discover.objectness import WEIGHTS, Objectness, mask_to_grid
from vosam.discover.pipeline import discover_from_maps
from vosam.errors import InputError
from vosam.io import read_mask


def test_scores_are_the_logistic_of_the_weights_and_survive_a_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    prior = Objectness(rng.normal(size=5), -0.25, short_side=240, trained_on=["a", "b"])
    feats = torch.from_numpy(rng.normal(size=(5, 3, 4)).astype(np.float32))
    expected = 1 / (1 + np.exp(-(np.einsum("c,chw->hw", prior.weight, feats.numpy()) - 0.25)))
    np.testing.assert_allclose(prior(feats), expected, rtol=1e-5)
    prior.save(tmp_path / "w.npz")
    again = Objectness.load(tmp_path / "w.npz")
    np.testing.assert_array_equal(again.weight, prior.weight)
    assert again.bias == pytest.approx(-0.25)
    assert (again.short_side, again.trained_on) == (240, ("a", "b"))
    np.testing.assert_array_equal(again(feats), prior(feats))
    assert not list(tmp_path.glob("*.tmp*"))  # written through a temporary file


def test_bad_weights_files_are_named(tmp_path):
    with pytest.raises(InputError, match=r"nope\.npz: no objectness weights"):
        Objectness.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", weight=np.zeros(3))
    with pytest.raises(InputError, match=r"other\.npz: not objectness weights .*bias"):
        Objectness.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"junk\.npz: cannot read"):
        Objectness.load(tmp_path / "junk.npz")
    prior = Objectness(np.ones(4), 0.0, short_side=240)
    with pytest.raises(ValueError, match="4-channel features, got 3"):
        prior(torch.zeros(3, 2, 2))


def test_training_separates_object_features_from_ground_features():
    rng = np.random.default_rng(1)
    feats, masks = [], []
    for _ in range(3):
        mask = np.zeros((10, 12), bool)
        mask[3:7, 4:9] = True
        f = rng.normal(0, 0.3, (6, 10, 12)).astype(np.float32)
        f[0][mask] += 1.0  # channel 0 marks the object
        f[1][~mask] += 1.0  # channel 1 the ground
        feats.append(torch.from_numpy(f))
        masks.append(mask)
    prior = Objectness.fit(feats, masks, short_side=240, trained_on=["synthetic"])
    assert prior.weight[0] > 0 > prior.weight[1]
    scores = prior(feats[0])
    assert scores[masks[0]].min() > 0.5 > scores[~masks[0]].max()
    with pytest.raises(ValueError, match="at least 10 foreground"):
        Objectness.fit(feats, [np.zeros_like(m) for m in masks], short_side=240)


def test_shipped_weights_find_an_object_they_were_not_trained_on():
    root = need_data("sparse-annotations", "chair")
    prior = Objectness.load()
    assert prior.short_side == 240 and "chair" not in prior.trained_on
    assert len(prior.trained_on) >= 20
    from vosam.discover.saliency import AppearanceFeatures
    from vosam.io import open_source

    source = open_source(root / "JPEGImages")
    appearance = AppearanceFeatures("cpu", prior.short_side)
    input_size = appearance.extractor.input_size(source.size)
    inside, outside = [], []
    for index, image in source.frames():
        if index % 20:
            continue
        dense = appearance.dense(image)
        name = source.names[index]
        truth = mask_to_grid(
            read_mask(root / "Annotations" / f"{name}.png"), input_size, dense.shape[1:]
        )
        scores = prior(dense)
        inside.append(scores[truth].mean())
        outside.append(scores[~truth].mean())
    # a chair is far from DAVIS-2016's people, animals and vehicles: still scored, per
    # frame, about twice its surroundings (1.7-2.5x when measured)
    assert all(i > 1.5 * o for i, o in zip(inside, outside, strict=True)), (inside, outside)


def test_shipped_weights_match_the_discovery_features():
    prior = Objectness.load(WEIGHTS)
    assert prior.weight.shape == (472,)
    assert prior.short_side == DiscoverConfig().feature_short_side


def test_a_video_without_a_strong_cue_still_gets_a_foreground_model():
    """Fused cues that never reach the pseudo-label threshold are scaled up, so a model
    is fitted and separates the object sharply (rather than echoing the weak cue)."""
    rng = np.random.default_rng(2)
    feats, fused, priors = [], [], []
    for t in range(6):
        mask = np.zeros((16, 20), bool)
        mask[4:10, 3 + t : 9 + t] = True
        f = rng.normal(0, 0.2, (8, 16, 20)).astype(np.float32)
        f[0][mask] += 1.0
        feats.append(torch.from_numpy(f))
        fused.append(np.where(mask, 0.4, 0.05).astype(np.float32))
        priors.append(np.where(mask, 0.9, 0.1).astype(np.float32))
    config = DiscoverConfig(min_length=0.0)
    found = discover_from_maps(
        [f.clone() for f in feats], list(fused), config, (128, 160), (128, 160), priors=priors
    )
    fg = found.foreground[0].astype(np.float32)
    mask = fused[0] > 0.2
    assert fg[mask].mean() > 0.85 and fg[~mask].mean() < 0.15 and fg[~mask].max() < 0.45
    assert len(found.trajectories) == 1 and len(found.trajectories[0].frames) == 6
    # no rescaling: no pseudo-label reaches 0.55, nothing is learned, the weak cue is used
    weak = discover_from_maps(
        [f.clone() for f in feats],
        list(fused),
        DiscoverConfig(min_length=0.0, label_peak=0.0),
        (128, 160),
        (128, 160),
        priors=priors,
    )
    assert weak.foreground[0].astype(np.float32)[mask].mean() < 0.75


def test_config_defaults_and_validation():
    assert DiscoverConfig().fused_motion_weight == 0.5
    assert DiscoverConfig(appearance="border").fused_motion_weight == 0.8
    assert DiscoverConfig(motion_weight=0.3).fused_motion_weight == 0.3
    with pytest.raises(ValueError, match="appearance must be"):
        DiscoverConfig(appearance="saliency")
    with pytest.raises(ValueError, match="prior_weight"):
        DiscoverConfig(prior_weight=1.5)
    with pytest.raises(ValueError, match="label_peak"):
        DiscoverConfig(label_peak=-0.1)
