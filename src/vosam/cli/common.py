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
    group.add_argument(
        "--model",
        metavar="NAME",
        help="a named model (vosam models list): xmem, sam2.1-hiera-tiny, "
        "facebook/sam2.1-hiera-tiny...; fetched once into the cache, checked before every "
        "load; sets the engine and, for sam2, the model config",
    )
    group.add_argument(
        "--checkpoint",
        type=Path,
        help="weights file of engines that need one (any local file); for the embedded "
        "engine, a parent appearance model made by vosam train",
    )
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
    """The :class:`~vosam.spec.RunSpec` of the engine options (``--engine``, ``--model``,
    ``--checkpoint``, ``--model-config``, ``--device``, ``--no-permanent-memory``) and, when
    the command has them, the refiner options.

    Raises:
        InputError: an option that does not apply to the engine or refiner chosen, an
            unknown model name.
    """
    from vosam.spec import EngineSpec, RunSpec

    model_config = getattr(args, "model_config", None)
    model = getattr(args, "model", None)
    if model is not None and args.checkpoint is not None:
        raise InputError(None, "give --model NAME or --checkpoint PATH, not both")
    if model is not None and model_config:
        raise InputError(None, f"--model {model} sets the model config; leave --model-config out")
    if model_config and args.engine != "sam2":
        raise InputError(None, "--model-config is an option of the sam2 engine")
    checkpoint = str(args.checkpoint) if args.checkpoint is not None else None
    try:
        engine = EngineSpec(
            args.engine, checkpoint=checkpoint, model_config=model_config, model=model
        )
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    return RunSpec(
        engine=engine,
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
    group.add_argument(
        "--refiner-weights",
        metavar="NAME",
        help="a named model of sam, sam-hq or sam2 (vosam models list: sam-vit-b, "
        "sam-hq-vit-tiny, sam2.1-hiera-tiny...), fetched once into the cache; sets --refiner "
        "and --refiner-model",
    )
    group.add_argument(
        "--refiner-checkpoint", type=Path, help="weights file of sam, sam-hq or sam2"
    )
    group.add_argument(
        "--refiner-model",
        help="sam/sam-hq: vit_h, vit_l or vit_b (default vit_h; sam-hq also vit_tiny); "
        "sam2: a config such as configs/sam2.1/sam2.1_hiera_t.yaml (default: from the "
        "checkpoint's name)",
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


def require_weights(
    option: str, name: str | None, checkpoint: object, weights: str | None = None
) -> None:
    """Refuse the segmenter ``name`` (chosen by ``option``: ``--refiner``, ``--segmenter``)
    when it needs weights and neither ``{option}-weights`` (a named model) nor
    ``{option}-checkpoint`` gave them: a model with random weights would run the whole video
    and give garbage masks.

    Raises:
        CheckpointError: naming the options to pass and where the official files come from.
    """
    from vosam.errors import CheckpointError
    from vosam.refine.weights import official_weights

    if name is None or checkpoint is not None or weights is not None:
        return
    where = official_weights(name)
    if where is not None:
        raise CheckpointError(
            f"{option} {name}",
            f"needs its weights: pass {option}-weights NAME ({where}) or {option}-checkpoint FILE",
        )


def refiner_spec_from_args(args: argparse.Namespace):  # -> vosam.spec.RefinerSpec | None
    """The :class:`~vosam.spec.RefinerSpec` of ``--refiner`` (or ``--refiner-weights``) and
    its options, or None."""
    weights = getattr(args, "refiner_weights", None)
    if getattr(args, "refiner", None) is None and weights is None:
        return None
    from vosam.spec import RefinerSpec

    try:
        refiner = segmenter_of(args.refiner, weights, "--refiner")
        if weights is not None and (args.refiner_checkpoint or args.refiner_model):
            raise InputError(
                None,
                f"--refiner-weights {weights} sets the weights and the variant; leave "
                "--refiner-checkpoint and --refiner-model out",
            )
        check_refiner_model(args, refiner)
        checkpoint = args.refiner_checkpoint
        require_weights("--refiner", refiner, checkpoint, weights)
        return RefinerSpec(
            refiner,
            checkpoint=str(checkpoint) if checkpoint is not None else None,
            model=args.refiner_model,
            prompt=getattr(args, "prompt", RefinerSpec.prompt),
            points=getattr(args, "points", RefinerSpec.points),
            gate=getattr(args, "gate", None),
            refine=getattr(args, "refine", RefinerSpec.refine),
            feedback=not getattr(args, "no_feedback", False),
            weights=weights,
        )
    except ValueError as exc:
        raise InputError(None, str(exc)) from None


def segmenter_of(name: str | None, weights: str | None, option: str) -> str:
    """The segmenter a command runs: ``name`` (``option``'s value), or the one the named
    model ``weights`` runs on, which ``name`` must then agree with.

    Raises:
        ModelError: an unknown model, one that is not a segmenter's, or another backend's.
    """
    if weights is None:
        return name
    from vosam.models.resolve import entry_for

    return entry_for(weights, "segmenter", name).backend


def check_refiner_model(args: argparse.Namespace, refiner: str | None = None) -> None:
    """Refuse ``--refiner-model`` for a refiner without model variants."""
    refiner = refiner or args.refiner
    if args.refiner_model and registry.entry("segmenter", refiner).model_arg is None:
        raise InputError(None, f"--refiner-model does not apply to the {refiner} refiner")


def build_refiner(args: argparse.Namespace):  # -> vosam.refine.refiner.Refiner | None
    """The :class:`~vosam.refine.refiner.Refiner` asked for by ``--refiner``, or None."""
    return run_spec_from_args(args).build_refiner()


def refiner_settings(args: argparse.Namespace) -> dict:
    """The refinement settings that decide a run's output (empty without ``--refiner``)."""
    settings = run_spec_from_args(args).settings()
    return {"refiner": settings["refiner"]} if "refiner" in settings else {}
