"""Arguments and helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from vosam.engines import Propagator, available_engines, build_propagator
from vosam.errors import InputError


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
    }
