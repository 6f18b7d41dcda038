"""Mean, recall, decay and stability: hand-computed values, decay right past 255 frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vosam.eval.stats import decay_bins, stability, summarize


def test_five_frames_by_hand():
    s = summarize(np.array([1.0, 0.8, 0.6, 0.4, 0.2]))
    assert s.mean == pytest.approx(0.6)
    assert s.recall == pytest.approx(3 / 5)  # 1.0, 0.8, 0.6 are above 0.5
    # bins at round(linspace(1, 5, 5)) - 1 = 0,1,2,3,4: first [0, 1], last [3, 4]
    assert s.decay == pytest.approx((1.0 + 0.8) / 2 - (0.4 + 0.2) / 2)


def test_bins_share_edges_and_round_halves_up():
    assert decay_bins(5) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    # linspace(1, 7, 5) = 1, 2.5, 4, 5.5, 7 → 1, 3, 4, 6, 7 (halves up) → minus one
    assert decay_bins(7) == [(0, 2), (2, 3), (3, 5), (5, 6)]
    assert decay_bins(1) == [(0, 0)] * 4
    assert decay_bins(0) == []


def test_recall_is_strictly_above_half():
    assert summarize(np.array([0.5, 0.5, 0.51, 0.0])).recall == pytest.approx(1 / 4)


def test_decay_past_255_frames():
    # 300 frames: linspace(1, 300, 5) = 1, 75.75, 150.5, 225.25, 300 → edges 0, 75, 150, 224, 299
    assert decay_bins(300) == [(0, 75), (75, 150), (150, 224), (224, 299)]
    values = np.r_[np.ones(150), np.zeros(150)]
    # the DAVIS reference keeps these indices in uint8 (299 → 43) and gets an empty last bin
    assert summarize(values).decay == pytest.approx(1.0)


def test_long_video_decay_matches_quarters():
    n = 2000
    values = np.linspace(1, 0, n)
    first, last = decay_bins(n)[0], decay_bins(n)[-1]
    expected = values[first[0] : first[1] + 1].mean() - values[last[0] : last[1] + 1].mean()
    assert summarize(values).decay == pytest.approx(expected)
    assert expected == pytest.approx(0.75, abs=1e-3)


def test_no_frames_gives_nan():
    s = summarize(np.array([]))
    assert math.isnan(s.mean) and math.isnan(s.recall) and math.isnan(s.decay)


def test_stability_is_population_std_of_jf():
    assert stability(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(0.5)
    assert stability(np.array([0.7, 0.7, 0.7]), np.array([0.1, 0.1, 0.1])) == pytest.approx(0.0)
    # (J+F)/2 = 1, 0.5, 0 → std = sqrt(((0.5)^2 + 0 + (0.5)^2) / 3)
    assert stability(np.array([1.0, 0.5, 0.0]), np.array([1.0, 0.5, 0.0])) == pytest.approx(
        math.sqrt(0.5 / 3)
    )
