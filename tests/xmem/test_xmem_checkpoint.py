"""Strict loading of XMem checkpoints saved under the official key names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from xmem_helpers import square_video, tiny_network

from vosam.engines import build_propagator
from vosam.engines.xmem import XMemArch, XMemConfig, XMemNetwork, XMemPropagator, load_network
from vosam.errors import CheckpointError

KEYS = Path(__file__).parent / "data" / "xmem_checkpoint_keys.tsv"


def official_keys() -> dict[str, tuple[int, ...]]:
    out = {}
    for line in KEYS.read_text().splitlines():
        name, shape = line.split("\t")
        out[name] = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    return out


def test_default_network_has_every_official_name_and_shape_in_order() -> None:
    with torch.device("meta"):
        state = XMemNetwork().state_dict()
    expected = official_keys()
    assert list(state) == list(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_widths_are_read_from_official_shapes() -> None:
    meta = {k: torch.empty(s, device="meta") for k, s in official_keys().items()}
    assert XMemArch.from_state_dict(meta) == XMemArch()


def test_strict_round_trip(tmp_path: Path) -> None:
    net = tiny_network(3)
    path = tmp_path / "XMem.pth"
    torch.save(net.state_dict(), path)
    loaded = load_network(path)
    assert loaded.arch == XMemArch.tiny()
    assert not loaded.training
    for name, tensor in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_no_sensory_checkpoint_has_no_hidden_state(tmp_path: Path) -> None:
    state = {
        k: v
        for k, v in tiny_network().state_dict().items()
        if "hidden_update" not in k and "hidden_reinforce" not in k
    }
    # the decoder fuser then reads values only
    name = "decoder.fuser.block1.conv1.weight"
    state[name] = state[name][:, : -XMemArch.tiny().hidden_dim]
    name = "decoder.fuser.block1.downsample.weight"
    state[name] = state[name][:, : -XMemArch.tiny().hidden_dim]
    path = tmp_path / "XMem-no-sensory.pth"
    torch.save(state, path)
    net = load_network(path)
    assert net.arch.hidden_dim == 0
    assert net.decoder.hidden_update is None and net.value_encoder.hidden_reinforce is None
    frames, masks = square_video(7)
    tracker = XMemPropagator(net, config=XMemConfig(size=-1), device="cpu").new_tracker()
    results = [
        tracker.step(i, f, annotation=masks[0] if i == 0 else None) for i, f in enumerate(frames)
    ]
    assert all(r.probs.shape == (3, 64, 96) for r in results)


def test_missing_and_unexpected_keys_are_listed(tmp_path: Path) -> None:
    state = tiny_network().state_dict()
    del state["decoder.pred.bias"]
    state["decoder.extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_network(path)
    text = str(err.value)
    assert text.startswith(str(path))
    assert "1 missing keys: decoder.pred.bias" in text
    assert "1 unexpected keys: decoder.extra.weight" in text


def test_shape_mismatch_is_listed(tmp_path: Path) -> None:
    state = tiny_network().state_dict()
    state["decoder.pred.weight"] = torch.zeros(1, 3, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"decoder\.pred\.weight \(1, 3, 3, 3\)"):
        load_network(path)


def test_other_models_weights_are_rejected_with_the_official_names(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.bias": torch.zeros(10)}, path)
    with pytest.raises(CheckpointError) as err:
        load_network(path)
    text = str(err.value)
    assert "412 missing keys: key_encoder.conv1.weight" in text
    assert "2 unexpected keys: conv1.weight, fc.bias" in text


def test_unreadable_and_absent_files(tmp_path: Path) -> None:
    junk = tmp_path / "notes.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_network(junk)
    with pytest.raises(CheckpointError, match="no such file"):
        load_network(tmp_path / "absent.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="not a plain state dict"):
        load_network(tmp_path / "list.pth")


def test_engine_registry_builds_xmem(tmp_path: Path) -> None:
    path = tmp_path / "XMem.pth"
    torch.save(tiny_network().state_dict(), path)
    prop = build_propagator("xmem", checkpoint=path, device="cpu")
    assert prop.name == "xmem" and prop.device == "cpu"
