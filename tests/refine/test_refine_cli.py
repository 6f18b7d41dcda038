"""The refinement options of ``vosam segment``: parsing, building and the run manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from vosam.cli import build_parser
from vosam.cli.common import build_refiner, engine_settings, refiner_settings
from vosam.errors import InputError
from vosam.refine.refiner import Refiner, RefinerConfig


def parse(*extra: str):
    return build_parser().parse_args(["segment", "video", "--masks", "m", "--out", "o", *extra])


def test_without_refiner_nothing_is_built_or_recorded():
    args = parse()
    assert build_refiner(args) is None
    assert refiner_settings(args) == {}
    assert "refiner" not in engine_settings(args)


def test_refiner_options_reach_the_config_and_the_manifest(tmp_path):
    args = parse(
        "--refiner",
        "embedded",
        "--prompt",
        "mask_bbox",
        "--points",
        "CPS",
        "--gate",
        "0.9",
        "--refine",
        "every",
        "--no-feedback",
        "--device",
        "cpu",
    )
    refiner = build_refiner(args)
    assert isinstance(refiner, Refiner)
    assert refiner.segmenter.name == "embedded"
    assert refiner.config == RefinerConfig(
        mode="mask_bbox", points="CPS", gate=0.9, refine="every", feedback=False
    )
    assert engine_settings(args)["refiner"] == {
        "name": "embedded",
        "checkpoint": None,
        "model": None,
        "prompt": "mask_bbox",
        "points": "CPS",
        "gate": 0.9,
        "refine": "every",
        "feedback": False,
    }


def test_defaults_are_the_library_defaults():
    args = parse(
        "--refiner", "sam", "--refiner-checkpoint", "sam_vit_b.pth", "--refiner-model", "vit_b"
    )
    settings = refiner_settings(args)["refiner"]
    default = RefinerConfig()
    assert (settings["prompt"], settings["points"], settings["refine"]) == (
        default.mode,
        default.points,
        default.refine,
    )
    assert settings["gate"] == 0.94  # SAM's predicted-IoU gate
    assert refiner_settings(parse("--refiner", "embedded"))["refiner"]["gate"] == 0.6
    assert settings["checkpoint"] == str(Path("sam_vit_b.pth").resolve())
    assert settings["model"] == "vit_b" and settings["feedback"] is True


def test_bad_refiner_options_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        parse("--refiner", "sam3")
    with pytest.raises(SystemExit):
        parse("--refiner", "sam", "--prompt", "boxes")
    with pytest.raises(InputError, match="--refiner-model"):
        build_refiner(parse("--refiner", "embedded", "--refiner-model", "vit_b"))
    from vosam.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no such file"):
        build_refiner(
            parse(
                "--refiner",
                "sam",
                "--refiner-model",
                "vit_b",
                "--device",
                "cpu",
                "--refiner-checkpoint",
                str(tmp_path / "absent.pth"),
            )
        )


def test_the_default_auto_device_builds_the_embedded_refiner():
    import torch

    refiner = build_refiner(parse("--refiner", "embedded"))  # --device auto, the default
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert refiner.segmenter.device == want
