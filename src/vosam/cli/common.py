"""Arguments and helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vosam.engines import Propagator, available_engines, build_propagator
from vosam.errors import InputError


def add_input_args(parser: argparse.ArgumentParser, *, tolerate: bool = False) -> None:
    """``--binarize`` (and ``--tolerate-corrupt``): how annotations and frames are read."""
    group = parser.add_argument_group("inputs")
    group.add_argument(
        "--binarize",
        action="store_true",
        help="read greyscale annotations as one object: grey >= 128 is the object (for "
        "masks resized with smoothing, which are refused otherwise)",
    )
    if tolerate:
        group.add_argument(
            "--tolerate-corrupt",
            action="store_true",
            help="skip frames whose data is damaged (listed in a warning and in run.json) "
            "instead of stopping; no mask is written for them",
        )


def report_skipped(command: str, source) -> None:
    """One warning line on stderr listing the damaged frames a source skipped."""
    if source.skipped:
        names = ", ".join(source.names[i] for i in sorted(source.skipped))
        print(
            f"vosam {command}: warning: skipped {len(source.skipped)} damaged frame(s): {names}",
            file=sys.stderr,
        )


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        default="embedded",
        choices=available_engines(),
        help="propagation engine (default: embedded, needs no download)",
    )
    group.add_argument("--checkpoint", type=Path, help="weights file of engines that need one")
    group.add_argument(
        "--model-config",
        help="sam2 only: model config inside the sam2 package, e.g. "
        "configs/sam2.1/sam2.1_hiera_t.yaml (default: inferred from the checkpoint's name)",
    )
    group.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N"
    )
    group.add_argument(
        "--no-permanent-memory",
        action="store_true",
        help="read annotations only once propagation reaches them (plain XMem); "
        "by default every annotated frame is kept in memory for the whole video (XMem++)",
    )


def build_engine(args: argparse.Namespace) -> Propagator:
    kwargs: dict[str, object] = {"device": args.device}
    if args.checkpoint is not None:
        kwargs["checkpoint"] = args.checkpoint
    if getattr(args, "model_config", None):
        if args.engine != "sam2":
            raise InputError(None, "--model-config is an option of the sam2 engine")
        kwargs["model_config"] = args.model_config
    return build_propagator(args.engine, **kwargs)


def engine_settings(args: argparse.Namespace) -> dict:
    """The settings that decide a run's output (used to detect mixed runs)."""
    return {
        "engine": args.engine,
        "checkpoint": str(args.checkpoint.resolve()) if args.checkpoint else None,
        "permanent_memory": not args.no_permanent_memory,
        **({"model_config": args.model_config} if getattr(args, "model_config", None) else {}),
        **refiner_settings(args),
    }


def add_refiner_args(parser: argparse.ArgumentParser) -> None:
    """``--refiner`` and its options (refinement of propagated masks, VOS-E-SAM)."""
    from vosam.refine import available_segmenters
    from vosam.refine.prompts import MODES, POINT_CONVERSIONS
    from vosam.refine.refiner import REFINE_WHEN, RefinerConfig

    default = RefinerConfig()
    group = parser.add_argument_group("refinement")
    group.add_argument(
        "--refiner",
        choices=available_segmenters(),
        help="refine propagated masks with this promptable segmenter (default: none; "
        "embedded needs no download)",
    )
    group.add_argument("--refiner-checkpoint", type=Path, help="weights of sam, sam-hq or sam2")
    group.add_argument(
        "--refiner-model",
        help="sam/sam-hq: vit_h, vit_l or vit_b (default vit_h); sam2: a config such as "
        "configs/sam2.1/sam2.1_hiera_t.yaml (default: from the checkpoint's name)",
    )
    group.add_argument("--prompt", default=default.mode, choices=tuple(MODES), help="prompt mode")
    group.add_argument(
        "--points",
        default=default.points,
        choices=tuple(POINT_CONVERSIONS),
        help="point conversion",
    )
    group.add_argument(
        "--gate",
        type=float,
        help="keep a refined mask only when its predicted quality reaches this (0 keeps all; "
        "default: 0.94 for sam, sam-hq and sam2, 0.6 for embedded)",
    )
    group.add_argument(
        "--refine",
        default=default.refine,
        choices=REFINE_WHEN,
        help="refine every frame (VOS-E-SAM; default) or only vanishing/degrading masks "
        "(about three times cheaper)",
    )
    group.add_argument(
        "--no-feedback",
        action="store_true",
        help="do not write accepted refined masks back into the engine's memory",
    )


def build_refiner(args: argparse.Namespace):  # -> vosam.refine.refiner.Refiner | None
    """The :class:`~vosam.refine.refiner.Refiner` asked for by ``--refiner``, or None."""
    if getattr(args, "refiner", None) is None:
        return None
    from vosam.refine import build_segmenter
    from vosam.refine.refiner import Refiner, RefinerConfig

    kwargs: dict[str, object] = {"device": args.device}
    if args.refiner_checkpoint is not None:
        kwargs["checkpoint"] = args.refiner_checkpoint
    if args.refiner_model:
        if args.refiner not in ("sam", "sam-hq", "sam2"):
            raise InputError(None, f"--refiner-model does not apply to the {args.refiner} refiner")
        key = "model_config" if args.refiner == "sam2" else "model_type"
        kwargs[key] = args.refiner_model
    config = RefinerConfig(
        mode=args.prompt,
        points=args.points,
        gate=args.gate,
        refine=args.refine,
        feedback=not args.no_feedback,
    )
    return Refiner(build_segmenter(args.refiner, **kwargs), config)


def refiner_settings(args: argparse.Namespace) -> dict:
    """The refinement settings that decide a run's output (empty without ``--refiner``)."""
    if getattr(args, "refiner", None) is None:
        return {}
    from vosam.refine.refiner import default_gate

    ckpt = args.refiner_checkpoint
    return {
        "refiner": {
            "name": args.refiner,
            "checkpoint": str(ckpt.resolve()) if ckpt else None,
            "model": args.refiner_model,
            "prompt": args.prompt,
            "points": args.points,
            "gate": args.gate if args.gate is not None else default_gate(args.refiner),
            "refine": args.refine,
            "feedback": not args.no_feedback,
        }
    }
