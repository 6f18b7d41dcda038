"""Named models used where weights are asked for: build_propagator, Session, the run specs,
the segmenter builder, and the --model / --segmenter-weights / --refiner-weights options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.models import fakes
from vosam import registry
from vosam.cli import main
from vosam.engines import build_propagator
from vosam.engines.xmem import XMemPropagator
from vosam.errors import CheckpointError, ModelError
from vosam.io import read_mask, write_mask
from vosam.models import lookup, model_path
from vosam.refine import build_segmenter
from vosam.session import Session
from vosam.spec import EngineSpec, RefinerSpec, RunSpec


@pytest.fixture
def box_segmenter(monkeypatch):
    """A segmenter backend ``box`` (registered for the test) whose variant argument is
    ``model_type``."""
    entry = registry.Entry("box", "tests.models.fakes:build_box_segmenter", model_arg="model_type")
    monkeypatch.setitem(registry._TABLES["segmenter"], "box", entry)
    fakes.BUILT.clear()
    return fakes.BUILT


@pytest.fixture
def video(tmp_path):
    """Three 64×96 frames of a bright square moving right, and its mask on frame 0."""
    frames, masks = tmp_path / "frames", tmp_path / "masks"
    frames.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    for t in range(3):
        image = rng.integers(0, 80, (64, 96, 3), dtype=np.uint8)
        image[20:40, 10 + 4 * t : 30 + 4 * t] = 230
        Image.fromarray(image).save(frames / f"{t:05d}.png")
    mask = np.zeros((64, 96), np.uint8)
    mask[20:40, 10:30] = 1
    write_mask(masks / "00000.png", mask)
    return frames, masks


def test_build_propagator_fetches_a_named_model_once_and_session_reuses_it(catalogue, video):
    add, served = catalogue
    add("tiny-xmem")
    engine = build_propagator(model="tiny-xmem", device="cpu")
    assert isinstance(engine, XMemPropagator)
    assert len(served.requests) == 1
    session = Session(video[0], model="tiny-xmem")
    assert isinstance(session.propagator, XMemPropagator)
    assert len(served.requests) == 1  # loaded from the cache
    with pytest.raises(ModelError, match=r"runs on the xmem engine, not on sam2"):
        build_propagator("sam2", model="tiny-xmem")
    with pytest.raises(ModelError, match="not both"):
        build_propagator(model="tiny-xmem", checkpoint="/x.pth")


def test_a_damaged_model_is_never_handed_to_torch(catalogue, monkeypatch):
    add, _ = catalogue
    add("tiny-xmem")
    path = model_path(lookup("tiny-xmem")[0])
    build_propagator(model="tiny-xmem", device="cpu")
    path.write_bytes(path.read_bytes()[:-7])

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called on a damaged file")

    monkeypatch.setattr(torch, "load", no_load)
    with pytest.raises(CheckpointError, match="cached file of model tiny-xmem is damaged"):
        build_propagator(model="tiny-xmem", device="cpu")


def test_engine_specs_take_a_model_and_round_trip(catalogue):
    add, served = catalogue
    add("tiny-xmem")
    spec = EngineSpec(model="tiny-xmem")
    assert spec.name == "xmem" and spec.checkpoint is None
    assert spec.to_dict() == {"engine": "xmem", "checkpoint": None, "model": "tiny-xmem"}
    assert EngineSpec.from_dict(spec.to_dict()) == spec
    run = RunSpec.from_dict({"model": "tiny-xmem", "options": {"top_k": 7}, "device": "cpu"})
    assert run.engine.name == "xmem" and run.engine.config.top_k == 7
    assert run.settings()["model"] == "tiny-xmem"
    assert served.requests == []  # a spec fetches nothing until it is built
    assert isinstance(run.build(), XMemPropagator) and len(served.requests) == 1
    for bad, problem in (
        ({"engine": "sam2", "model": "tiny-xmem"}, "runs on the xmem engine, not on sam2"),
        ({"model": "tiny-xmem", "checkpoint": "/x.pth"}, "not both"),
        ({"model": "nope"}, "unknown model 'nope'"),
        ({"model": "sam-vit-b"}, "sam-vit-b is for the sam segmenter, not an engine"),
    ):
        with pytest.raises(ValueError, match=problem):
            RunSpec.from_dict(bad)


def test_the_cutie_models_resolve_once_the_engine_exists():
    if "cutie" in registry.names("engine"):
        assert EngineSpec(model="cutie-small-mega").name == "cutie"
    else:
        with pytest.raises(ModelError, match="cutie engine, which this version of vosam does"):
            EngineSpec(model="cutie-small-mega")


def test_segmenter_weights_by_name(catalogue, box_segmenter):
    add, _ = catalogue
    add("box-v3", data=b"box weights", kinds=["segmenter"], backend="box", config="v3")
    build_segmenter(model="box-v3", device="cpu")
    assert box_segmenter == [(b"box weights", "v3")]
    spec = RefinerSpec("box", weights="box-v3")
    assert spec.to_dict()["weights"] == "box-v3"
    assert RefinerSpec.from_dict(spec.to_dict()) == spec
    spec.build_segmenter("cpu")
    assert box_segmenter[-1] == (b"box weights", "v3")
    with pytest.raises(ValueError, match="sets the weights and the variant"):
        RefinerSpec("box", weights="box-v3", model="v1")
    with pytest.raises(ModelError, match="runs on the box segmenter, not on sam"):
        RefinerSpec("sam", weights="box-v3")
    with pytest.raises(ModelError, match="tiny-xmem is for the xmem engine, not a segmenter"):
        add("tiny-xmem")
        build_segmenter(model="tiny-xmem")


def test_segment_with_model_and_segmenter_weights(catalogue, box_segmenter, video, tmp_path):
    add, served = catalogue
    add("tiny-xmem")
    add("box-v3", data=b"box weights", kinds=["segmenter"], backend="box", config="v3")
    frames, _ = video
    out = tmp_path / "out"
    args = ["segment", str(frames), "--box", "10,20,29,39", "--out", str(out), "--quiet"]
    assert main([*args, "--model", "tiny-xmem", "--segmenter-weights", "box-v3"]) == 0
    assert box_segmenter == [(b"box weights", "v3")]
    first = np.zeros((64, 96), np.uint8)
    first[20:40, 10:30] = 1
    np.testing.assert_array_equal(read_mask(out / "prompts" / "00000.png"), first)
    assert len(list(out.glob("*.png"))) == 3
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["engine"] == "xmem" and settings["model"] == "tiny-xmem"
    assert settings["checkpoint"] is None
    assert settings["segmenter"] == {
        "name": "box",
        "checkpoint": None,
        "model": None,
        "weights": "box-v3",
    }
    assert [path for path, _ in served.requests] == ["/tiny-xmem.pth", "/box-v3.pth"]


def test_refiner_weights_choose_the_refiner(catalogue, box_segmenter, video, tmp_path):
    add, _ = catalogue
    add("tiny-xmem")
    add("box-v3", data=b"box weights", kinds=["segmenter"], backend="box", config="v3")
    frames, masks = video
    out = tmp_path / "out"
    args = ["segment", str(frames), "--masks", str(masks), "--out", str(out), "--quiet"]
    args += ["--model", "tiny-xmem"]
    assert main([*args, "--refiner-weights", "box-v3", "--gate", "0"]) == 0
    assert box_segmenter == [(b"box weights", "v3")]
    refiner = json.loads((out / "run.json").read_text())["settings"]["refiner"]
    assert refiner["name"] == "box" and refiner["weights"] == "box-v3"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--model", "nope"], "unknown model 'nope'; known models:"),
        (["--model", "tiny-xmem", "--checkpoint", "x.pth"], "--model NAME or --checkpoint"),
        (["--model", "tiny-xmem", "--engine", "sam2"], "runs on the xmem engine, not on sam2"),
        (["--refiner-weights", "tiny-xmem"], "tiny-xmem is for the xmem engine, not a segmenter"),
        (["--refiner", "sam", "--refiner-weights", "box-v3"], "runs on the box segmenter"),
    ],
)
def test_bad_model_options_are_one_line_and_exit_2(
    catalogue, box_segmenter, video, tmp_path, capsys, extra, problem
):
    add, served = catalogue
    add("tiny-xmem")
    add("box-v3", data=b"box weights", kinds=["segmenter"], backend="box", config="v3")
    frames, masks = video
    out = tmp_path / "out"
    args = ["segment", str(frames), "--masks", str(masks), "--out", str(out), "--quiet"]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("vosam segment: error: ")
    assert pytest.importorskip("re").search(problem, err)
    assert not out.exists() and served.requests == []


def test_the_app_takes_named_models(catalogue, box_segmenter, tmp_path):
    from vosam.app.config import AppConfig
    from vosam.app.models import Models
    from vosam.cli import build_parser
    from vosam.cli.app_cmd import config_from

    add, served = catalogue
    add("tiny-xmem")
    add("box-v3", data=b"box weights", kinds=["segmenter"], backend="box", config="v3")
    options = ["app", "--workspace", str(tmp_path), "--model", "tiny-xmem"]
    config = config_from(build_parser().parse_args([*options, "--segmenter-weights", "box-v3"]))
    assert (config.engine, config.model) == ("xmem", "tiny-xmem")
    assert (config.segmenter, config.segmenter_weights) == ("box", "box-v3")
    assert served.requests == []  # fetched when first needed, not when the app starts
    models = Models(config)
    assert isinstance(models.propagator, XMemPropagator)
    models.segmenter  # noqa: B018 (built on first use)
    assert box_segmenter == [(b"box weights", "v3")]
    with pytest.raises(ValueError, match="not both"):
        AppConfig(workspace=tmp_path, model="tiny-xmem", checkpoint=tmp_path / "x.pth")
    with pytest.raises(ModelError, match="runs on the xmem engine, not on sam2"):
        AppConfig(workspace=tmp_path, engine="sam2", model="tiny-xmem")


def test_discover_and_refine_vis_take_refiner_weights(catalogue, box_segmenter):
    import argparse

    from vosam.cli.discover_cmd import make_refiner, take_refiner_weights
    from vosam.errors import InputError

    add, _ = catalogue
    add("box-v3", data=b"box weights", kinds=["segmenter"], backend="box", config="v3")

    def options(**given: object) -> argparse.Namespace:
        base = {"refiner": None, "refiner_weights": None, "refiner_checkpoint": None}
        return argparse.Namespace(**{**base, "refiner_model": None, "device": "cpu", **given})

    args = options(refiner_weights="box-v3")
    take_refiner_weights(args, default=None)
    assert args.refiner == "box"
    make_refiner(args)
    assert box_segmenter == [(b"box weights", "v3")]
    args = options(refiner="embedded", refiner_weights="box-v3")  # refine-vis's default
    take_refiner_weights(args, default="embedded")
    assert args.refiner == "box"
    with pytest.raises(InputError, match="runs on the box segmenter, not on sam"):
        take_refiner_weights(options(refiner="sam", refiner_weights="box-v3"), default=None)
    with pytest.raises(InputError, match="leave --refiner-checkpoint and --refiner-model out"):
        take_refiner_weights(options(refiner_weights="box-v3", refiner_model="v1"), default=None)


def test_a_named_cutie_model_is_fetched_and_runs(catalogue, video):
    """The catalogue's Cutie entries name the cutie engine: a served file (tiny random
    weights under Cutie's names) is fetched, loaded strictly and propagates."""
    import io

    from tests.cutie.cutie_helpers import tiny_network
    from vosam.engines.cutie import CutiePropagator

    add, served = catalogue
    buffer = io.BytesIO()
    torch.save(tiny_network().state_dict(), buffer)
    add("tiny-cutie", buffer.getvalue(), backend="cutie")
    engine = build_propagator(model="tiny-cutie", device="cpu")
    assert isinstance(engine, CutiePropagator) and len(served.requests) == 1
    session = Session(video[0], propagator=engine)
    session.add_annotation(0, read_mask(video[1] / "00000.png"))
    results = dict(session.propagate())
    assert sorted(results) == [0, 1, 2] and all(r.object_ids == (1,) for r in results.values())
