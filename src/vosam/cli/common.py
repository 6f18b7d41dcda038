"""Arguments and helpers shared by the CLI commands.

Building the parser imports no model code: the choices come from :mod:`vosam.registry` and
:mod:`vosam.spec`; the engine and refiner are built through :class:`~vosam.spec.RunSpec`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from vosam import registry
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


def add_wait_arg(parser: argparse.ArgumentParser) -> None:
    """``--wait``: wait for another run writing the same output instead of stopping."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help="when another vosam run is writing the same output, wait for it to finish "
        "(default: stop with one line)",
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
        choices=sorted(registry.names("engine")),
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


def run_spec_from_args(args: argparse.Namespace):  # -> vosam.spec.RunSpec
    """The :class:`~vosam.spec.RunSpec` of the engine options (``--engine``,
    ``--checkpoint``, ``--model-config``, ``--device``, ``--no-permanent-memory``) and, when
    the command has them, the refiner options.

    Raises:
        InputError: an option that does not apply to the engine or refiner chosen.
    """
    from vosam.spec import EngineSpec, RunSpec

    model_config = getattr(args, "model_config", None)
    if model_config and args.engine != "sam2":
        raise InputError(None, "--model-config is an option of the sam2 engine")
    checkpoint = str(args.checkpoint) if args.checkpoint is not None else None
    return RunSpec(
        engine=EngineSpec(args.engine, checkpoint=checkpoint, model_config=model_config),
        refiner=refiner_spec_from_args(args),
        device=args.device,
        permanent_memory=not args.no_permanent_memory,
    )


def build_engine(args: argparse.Namespace):  # -> vosam.engines.Propagator
    return run_spec_from_args(args).build()


def engine_settings(args: argparse.Namespace) -> dict:
    """The settings that decide a run's output (used to detect mixed runs)."""
    return run_spec_from_args(args).settings()


def add_refiner_args(parser: argparse.ArgumentParser) -> None:
    """``--refiner`` and its options (refinement of propagated masks, VOS-E-SAM)."""
    from vosam.spec import POINT_CONVERSIONS, PROMPT_MODES, REFINE_WHEN, RefinerSpec

    default = {f.name: f.default for f in dataclasses.fields(RefinerSpec)}
    group = parser.add_argument_group("refinement")
    group.add_argument(
        "--refiner",
        choices=sorted(registry.names("segmenter")),
        help="refine propagated masks with this promptable segmenter (default: none; "
        "embedded needs no download)",
    )
    group.add_argument("--refiner-checkpoint", type=Path, help="weights of sam, sam-hq or sam2")
    group.add_argument(
        "--refiner-model",
        help="sam/sam-hq: vit_h, vit_l or vit_b (default vit_h); sam2: a config such as "
        "configs/sam2.1/sam2.1_hiera_t.yaml (default: from the checkpoint's name)",
    )
    group.add_argument(
        "--prompt", default=default["prompt"], choices=PROMPT_MODES, help="prompt mode"
    )
    group.add_argument(
        "--points",
        default=default["points"],
        choices=POINT_CONVERSIONS,
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
        default=default["refine"],
        choices=REFINE_WHEN,
        help="refine every frame (VOS-E-SAM; default) or only vanishing/degrading masks "
        "(about three times cheaper)",
    )
    group.add_argument(
        "--no-feedback",
        action="store_true",
        help="do not write accepted refined masks back into the engine's memory",
    )


def require_weights(option: str, name: str | None, checkpoint: object) -> None:
    """Refuse the segmenter ``name`` (given by ``option``: ``--refiner``, ``--segmenter``)
    when it needs weights and ``{option}-checkpoint`` was not given: a model with random
    weights would run the whole video and give garbage masks.

    Raises:
        CheckpointError: naming the option to pass and where the official file comes from.
    """
    from vosam.errors import CheckpointError

    if name is None or checkpoint is not None or name not in registry.names("segmenter"):
        return
    weights = registry.entry("segmenter", name).weights
    if weights is not None:
        raise CheckpointError(
            f"{option} {name}",
            f"needs its weights: pass {option}-checkpoint FILE (the official file: {weights})",
        )


def refiner_spec_from_args(args: argparse.Namespace):  # -> vosam.spec.RefinerSpec | None
    """The :class:`~vosam.spec.RefinerSpec` of ``--refiner`` and its options, or None."""
    if getattr(args, "refiner", None) is None:
        return None
    from vosam.spec import RefinerSpec

    check_refiner_model(args)
    require_weights("--refiner", args.refiner, args.refiner_checkpoint)
    checkpoint = args.refiner_checkpoint
    try:
        return RefinerSpec(
            args.refiner,
            checkpoint=str(checkpoint) if checkpoint is not None else None,
            model=args.refiner_model,
            prompt=getattr(args, "prompt", RefinerSpec.prompt),
            points=getattr(args, "points", RefinerSpec.points),
            gate=getattr(args, "gate", None),
            refine=getattr(args, "refine", RefinerSpec.refine),
            feedback=not getattr(args, "no_feedback", False),
        )
    except ValueError as exc:
        raise InputError(None, str(exc)) from None


def check_refiner_model(args: argparse.Namespace) -> None:
    """Refuse ``--refiner-model`` for a refiner without model variants."""
    if args.refiner_model and registry.entry("segmenter", args.refiner).model_arg is None:
        raise InputError(None, f"--refiner-model does not apply to the {args.refiner} refiner")


def build_refiner(args: argparse.Namespace):  # -> vosam.refine.refiner.Refiner | None
    """The :class:`~vosam.refine.refiner.Refiner` asked for by ``--refiner``, or None."""
    return run_spec_from_args(args).build_refiner()


def refiner_settings(args: argparse.Namespace) -> dict:
    """The refinement settings that decide a run's output (empty without ``--refiner``)."""
    settings = run_spec_from_args(args).settings()
    return {"refiner": settings["refiner"]} if "refiner" in settings else {}
