"""The fused engine's parts on constructed inputs: windows that follow the flow, flow on
the cell grid, the ridge appearance model and its parent prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vosam.engines.fused.appearance import RidgeTarget, balanced_stats, rows
from vosam.engines.fused.correspondence import WindowMemory
from vosam.engines.fused.motion import to_cells


def _unit_keys(channels: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.randn(channels, h, w, generator=g)
    return k / k.norm(dim=0, keepdim=True)


def _square(h: int, w: int, top: int, left: int, side: int) -> torch.Tensor:
    """``(2, h, w)`` background and one object, a square."""
    obj = torch.zeros(h, w)
    obj[top : top + side, left : left + side] = 1
    return torch.stack([1 - obj, obj])


def test_a_frame_reads_itself_back_exactly():
    keys = _unit_keys(32, 12, 20)
    values = _square(12, 20, 3, 5, 4)
    memory = WindowMemory((12, 20), radius=2, tile=4, recent=3)
    memory.add(0, keys, values, permanent=True)
    out = memory.read(keys, top_k=1, temperature=0.05)
    torch.testing.assert_close(out, values)


def test_the_windows_follow_the_flow_where_fixed_windows_lose_the_object():
    """The scene moves 6 cells right; windows reach 1 cell beyond their tile: only when
    they are shifted by the backward flow do they find each cell's match."""
    h, w, shift = 12, 24, 6
    keys = _unit_keys(32, h, w + shift)
    before = keys[:, :, shift:]  # frame 0 shows columns shift.. of the scene
    after = keys[:, :, :w]  # frame 1: the scene moved right by `shift` cells
    values = _square(h, w, 4, 8, 4)
    moved = torch.zeros_like(values)
    moved[0] = 1
    moved[:, :, shift:] = values[:, :, : w - shift]
    backward = torch.zeros(2, h, w)
    backward[0] = -shift  # a cell of frame 1 was `shift` cells to the left in frame 0
    results = {}
    for follow in (True, False):
        memory = WindowMemory((h, w), radius=1, tile=4, recent=3)
        memory.add(0, before, values, permanent=True)
        memory.advance(backward if follow else None)
        results[follow] = memory.read(after, top_k=1, temperature=0.01)
    inside = (slice(None), slice(None), slice(shift, w))
    torch.testing.assert_close(results[True][inside], moved[inside])
    lost, truth = results[False][1] > 0.5, moved[1] > 0.5
    assert (lost & truth).sum() / (lost | truth).sum() < 0.3  # out of the windows' reach


def test_recent_frames_are_evicted_and_annotations_kept():
    memory = WindowMemory((4, 4), radius=1, tile=2, recent=2)
    keys, values = _unit_keys(8, 4, 4), _square(4, 4, 0, 0, 2)
    memory.add(0, keys, values, permanent=True)
    for index in range(1, 5):
        memory.add(index, keys, values, permanent=False)
    assert [e.index for e in memory.entries] == [0, 3, 4]
    memory.insert_object(1)
    assert memory.entries[0].values.shape[0] == 3
    assert memory.entries[0].values[2].abs().sum() == 0
    memory.remove_object(0)
    torch.testing.assert_close(memory.entries[0].values[0], torch.ones(4, 4))


def test_flow_in_pixels_becomes_flow_in_cells():
    flow = np.zeros((64, 96, 2), np.float32)
    flow[..., 0] = 8.0  # 8 pixels right
    flow[..., 1] = -4.0
    cells = to_cells(flow, (16, 24))  # 4 pixels a cell
    torch.testing.assert_close(cells[0], torch.full((16, 24), 2.0))
    torch.testing.assert_close(cells[1], torch.full((16, 24), -1.0))


def test_balanced_statistics_weigh_each_class_alike():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 0, 1])
    gram, cross = balanced_stats(x, labels, 2)
    torch.testing.assert_close(gram, torch.eye(2))
    torch.testing.assert_close(cross, torch.eye(2))


def test_the_ridge_model_separates_what_its_features_separate():
    g = torch.Generator().manual_seed(1)
    dense = torch.randn(6, 10, 10, generator=g)
    labels = (dense[2] > 0.3).long().reshape(-1)
    x = rows(dense)
    model = RidgeTarget(ridge_lambda=0.01)
    model.fit([(x, labels)], 2)
    probs = model.predict(x, (10, 10))
    assert probs.shape == (2, 10, 10)
    torch.testing.assert_close(probs.sum(0), torch.ones(10, 10))
    predicted = probs.argmax(0).reshape(-1)
    assert (predicted == labels).float().mean() > 0.9


def test_a_strong_pull_gives_the_parent_and_a_new_class_starts_with_no_evidence():
    g = torch.Generator().manual_seed(2)
    x = rows(torch.randn(4, 6, 6, generator=g))
    labels = torch.randint(0, 2, (36,), generator=g)
    parent = torch.randn(5, 2, generator=g)
    model = RidgeTarget(ridge_lambda=1e6, parent=parent)
    model.fit([(x, labels)], 2)
    torch.testing.assert_close(model.weight, parent, atol=1e-3, rtol=1e-3)
    model.update(x, labels, torch.ones(36, dtype=torch.bool))
    model.insert_class(1)
    model.fit([(x, torch.where(labels > 0, 2, 0))], 3)
    assert model.weight.shape == (5, 3)
    # the parent's foreground column serves every object
    torch.testing.assert_close(model.weight[:, 1], parent[:, 1], atol=1e-3, rtol=1e-3)


def test_an_online_update_moves_the_model_towards_the_new_frame():
    g = torch.Generator().manual_seed(3)
    x = rows(torch.randn(4, 8, 8, generator=g))
    first = (x[:, 0] > 0).long()
    later = (x[:, 1] > 0).long()
    model = RidgeTarget(ridge_lambda=0.01, decay=0.5)
    model.fit([(x, first)], 2)
    before = (model.predict(x, (8, 8)).argmax(0).reshape(-1) == later).float().mean()
    for _ in range(5):
        model.update(x, later, torch.ones(64, dtype=torch.bool))
    after = (model.predict(x, (8, 8)).argmax(0).reshape(-1) == later).float().mean()
    assert after > before + 0.2


@pytest.mark.parametrize("bad", ["radius", "temperature", "area_range"])
def test_bad_settings_are_refused(bad):
    from vosam.engines.fused import FusedConfig

    values = {"radius": -1, "temperature": 0.0, "area_range": (2.0, 1.0)}
    with pytest.raises(ValueError, match=bad):
        FusedConfig(**{bad: values[bad]})
