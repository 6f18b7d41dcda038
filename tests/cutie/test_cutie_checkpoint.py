"""Strict loading of Cutie checkpoints saved under the official key names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cutie_helpers import official_keys, tiny_network

from vosam.engines import build_propagator
from vosam.engines.cutie import CutieArch, CutieNetwork, load_network
from vosam.engines.cutie.checkpoint import check_state_dict
from vosam.errors import CheckpointError

SIZES = {"base": CutieArch.base(), "small": CutieArch.small()}


def meta_state(model: str) -> dict[str, torch.Tensor]:
    """The official names and shapes, without data."""
    return {k: torch.empty(s, device="meta") for k, s in official_keys(model).items()}


@pytest.mark.parametrize("model", ["base", "small"])
def test_network_has_every_official_name_and_shape_in_order(model: str) -> None:
    with torch.device("meta"):
        state = CutieNetwork(SIZES[model]).state_dict()
    expected = official_keys(model)
    assert list(state) == list(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


@pytest.mark.parametrize("model", ["base", "small"])
def test_widths_are_read_from_official_shapes(model: str) -> None:
    assert CutieArch.from_state_dict(meta_state(model)) == SIZES[model]
    assert check_state_dict(meta_state(model)) == SIZES[model]


@pytest.mark.parametrize("model", ["base", "small"])
@pytest.mark.parametrize(
    "name", ["pix_feat_proj.weight", "object_transformer.blocks.2.ffn.norm.bias"]
)
def test_one_missing_tensor_is_named(model: str, name: str) -> None:
    """Also when the missing tensor is one the widths are read from: the file is then
    compared with the official size it is closest to."""
    state = meta_state(model)
    del state[name]
    with pytest.raises(CheckpointError) as err:
        check_state_dict(state, "cutie.pth")
    assert str(err.value) == f"cutie.pth: not a Cutie checkpoint: 1 missing keys: {name}"


def test_one_misnamed_tensor_is_named() -> None:
    state = meta_state("small")
    state["mask_decoder.pred.weights"] = state.pop("mask_decoder.pred.weight")
    with pytest.raises(CheckpointError) as err:
        check_state_dict(state, "cutie.pth")
    assert str(err.value) == (
        "cutie.pth: not a Cutie checkpoint: 1 missing keys: mask_decoder.pred.weight; "
        "1 unexpected keys: mask_decoder.pred.weights"
    )


def test_shape_mismatch_is_listed() -> None:
    state = meta_state("base")
    state["key_proj.e_proj.weight"] = torch.empty(64, 256, 1, 1, device="meta")
    with pytest.raises(CheckpointError, match=r"1 shape mismatches: key_proj\.e_proj\.weight"):
        check_state_dict(state)


def test_strict_round_trip(tmp_path: Path) -> None:
    net = tiny_network(3)
    path = tmp_path / "cutie.pth"
    torch.save(net.state_dict(), path)
    loaded = load_network(path)
    assert loaded.arch == CutieArch.tiny()
    assert not loaded.training
    for name, tensor in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_other_models_weights_are_rejected_with_the_official_names(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.bias": torch.zeros(10)}, path)
    with pytest.raises(CheckpointError) as err:
        load_network(path)
    text = str(err.value)
    assert "359 missing keys: pixel_encoder.conv1.weight" in text  # closest: small
    assert "2 unexpected keys: conv1.weight, fc.bias" in text


def test_engine_registry_builds_cutie(tmp_path: Path) -> None:
    path = tmp_path / "cutie.pth"
    torch.save(tiny_network().state_dict(), path)
    engine = build_propagator("cutie", checkpoint=path, device="cpu")
    assert engine.name == "cutie" and engine.device == "cpu"
    with pytest.raises(CheckpointError, match=r"--checkpoint cutie-base-mega\.pth"):
        build_propagator("cutie", device="cpu")
