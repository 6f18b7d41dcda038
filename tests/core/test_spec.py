import json
import subprocess
import sys
from pathlib import Path

import pytest

from vosam.spec import (
    POINT_CONVERSIONS,
    PROMPT_MODES,
    REFINE_WHEN,
    EngineSpec,
    RefinerSpec,
    RunSpec,
)


def _full() -> RunSpec:
    return RunSpec(
        EngineSpec.with_options("xmem", {"top_k": 20}, checkpoint="/w/XMem.pth"),
        RefinerSpec("sam", checkpoint="/w/sam.pth", model="vit_b", gate=0.5, refine="vanishing"),
        device="cpu",
        permanent_memory=False,
    )


def test_to_dict_is_json_and_from_dict_gives_the_same_spec():
    spec = _full()
    data = json.loads(json.dumps(spec.to_dict()))
    assert data == {
        "engine": "xmem",
        "checkpoint": "/w/XMem.pth",
        "options": {"top_k": 20},
        "device": "cpu",
        "permanent_memory": False,
        "refiner": {
            "name": "sam",
            "checkpoint": "/w/sam.pth",
            "model": "vit_b",
            "prompt": "mask_bbox_pos_neg",
            "points": "CP",
            "gate": 0.5,
            "refine": "vanishing",
            "feedback": True,
        },
    }
    assert RunSpec.from_dict(data) == spec
    assert RunSpec.from_dict({}) == RunSpec()


def test_nested_options_round_trip_through_typed_configs():
    engine = EngineSpec.with_options("embedded-v1", {"memory": {"top_k": 7}, "short_side": 64})
    assert engine.config.memory.top_k == 7 and engine.config.short_side == 64
    assert engine.options() == {"memory": {"top_k": 7}, "short_side": 64}
    assert EngineSpec.from_dict(engine.to_dict()) == engine


def test_unknown_keys_are_named():
    with pytest.raises(ValueError, match=r"unknown key\(s\) colour, top_k; a RunSpec takes"):
        RunSpec.from_dict({"top_k": 3, "colour": 1})
    with pytest.raises(ValueError, match=r"unknown key\(s\) promt; a RefinerSpec takes"):
        RunSpec.from_dict({"refiner": {"name": "sam", "promt": "bbox"}})
    with pytest.raises(ValueError, match="XMemConfig has no field 'topk'"):
        RunSpec.from_dict({"engine": "xmem", "options": {"topk": 3}})
    with pytest.raises(ValueError, match="unknown engine 'sam3'"):
        RunSpec.from_dict({"engine": "sam3"})
    with pytest.raises(ValueError, match="unknown refiner 'sam3'"):
        RefinerSpec("sam3")


def test_refiner_choices_and_the_model_argument_of_each_segmenter():
    from vosam.refine.prompts import MODES
    from vosam.refine.prompts import POINT_CONVERSIONS as CONVERSIONS
    from vosam.refine.refiner import RefinerConfig

    assert tuple(MODES) == PROMPT_MODES and tuple(CONVERSIONS) == POINT_CONVERSIONS
    assert REFINE_WHEN == ("every", "vanishing")
    default = RefinerConfig()
    spec = RefinerSpec("sam2")
    assert (spec.prompt, spec.points, spec.refine, spec.feedback) == (
        default.mode,
        default.points,
        default.refine,
        default.feedback,
    )
    assert RefinerSpec("sam2").gate == 0.94 and RefinerSpec("embedded").gate == 0.6
    assert RefinerSpec("sam2", model="c.yaml").segmenter_kwargs("cpu") == {
        "device": "cpu",
        "model_config": "c.yaml",
    }
    assert RefinerSpec("sam", model="vit_b").segmenter_kwargs("cpu")["model_type"] == "vit_b"
    with pytest.raises(ValueError, match="no model variants"):
        RefinerSpec("embedded", model="vit_b")
    with pytest.raises(ValueError, match=r"gate is a quality in \[0, 1\]"):
        RefinerSpec("sam", gate=2.0)
    with pytest.raises(ValueError, match="prompt 'boxes'"):
        RefinerSpec("sam", prompt="boxes")


def test_settings_record_absolute_weights_and_no_device(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = RunSpec(EngineSpec("xmem", checkpoint="w.pth"), RefinerSpec("sam", checkpoint="s.pth"))
    settings = spec.settings()
    assert "device" not in settings
    assert settings["checkpoint"] == str(Path(tmp_path, "w.pth").resolve())
    assert settings["refiner"]["checkpoint"] == str(Path(tmp_path, "s.pth").resolve())
    assert spec.to_dict()["checkpoint"] == "w.pth"


def test_model_config_belongs_to_sam2():
    with pytest.raises(ValueError, match="option of the sam2 engine"):
        EngineSpec("xmem", model_config="x.yaml")
    assert EngineSpec("sam2", model_config="x.yaml").to_dict()["model_config"] == "x.yaml"


def test_build_makes_the_engine_and_the_refiner():
    from vosam.engines.fused import FusedPropagator

    spec = RunSpec(EngineSpec.with_options("embedded", {"short_side": 64}), device="cpu")
    engine = spec.build()
    assert isinstance(engine, FusedPropagator) and engine.config.short_side == 64
    refiner = RunSpec(refiner=RefinerSpec("embedded", refine="vanishing")).build_refiner(
        device="cpu"
    )
    assert refiner.config.refine == "vanishing" and refiner.segmenter.device == "cpu"


def test_the_spec_module_imports_no_model_code():
    code = (
        "import sys, vosam.spec; "
        "print(sorted(m for m in ('torch', 'cv2', 'numpy', 'vosam.engines') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_public_api_exports_the_run_spec_and_the_builders():
    import vosam
    from vosam.eval import evaluate_dataset
    from vosam.refine.refiner import Refiner

    assert vosam.RunSpec is RunSpec and vosam.RefinerSpec is RefinerSpec
    assert vosam.Refiner is Refiner and vosam.evaluate_dataset is evaluate_dataset
    for name in vosam.__all__:
        assert getattr(vosam, name) is not None
