"""``vosam discover``: find, track and segment a video's prominent moving objects with no
annotation, or segment the box trajectories of any tracker (``--boxes``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vosam
from vosam import registry
from vosam.errors import InputError

TRAJECTORIES_FILE = "trajectories.json"


def add_refiner_arguments(parser: argparse.ArgumentParser, *, default: str | None) -> None:
    """``--refiner NAME --refiner-checkpoint PATH --refiner-model M --device D``."""
    group = parser.add_argument_group("refiner")
    group.add_argument(
        "--refiner",
        default=default,
        choices=sorted(registry.names("segmenter")),
        help="promptable segmenter the boxes prompt"
        + (f" (default: {default})" if default else ""),
    )
    group.add_argument(
        "--refiner-weights",
        metavar="NAME",
        help="a named model of sam, sam-hq or sam2 (vosam models list), fetched once into "
        "the cache; sets --refiner and --refiner-model",
    )
    group.add_argument(
        "--refiner-checkpoint", type=Path, help="weights of refiners that need them (SAM family)"
    )
    group.add_argument(
        "--refiner-model",
        help="sam/sam-hq: vit_h, vit_l or vit_b (default vit_h; sam-hq also vit_tiny); "
        "sam2: a config such as configs/sam2.1/sam2.1_hiera_t.yaml (default: from the "
        "checkpoint's name)",
    )
    group.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")


def take_refiner_weights(args: argparse.Namespace, *, default: str | None) -> None:
    """With ``--refiner-weights``, set ``args.refiner`` to the segmenter its model runs on
    (``--refiner``, when given other than ``default``, must agree)."""
    if args.refiner_weights is None:
        return
    from vosam.cli.common import segmenter_of

    given = None if args.refiner == default else args.refiner
    try:
        args.refiner = segmenter_of(given, args.refiner_weights, "--refiner")
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    if args.refiner_checkpoint is not None or args.refiner_model:
        raise InputError(
            None,
            f"--refiner-weights {args.refiner_weights} sets the weights and the variant; "
            "leave --refiner-checkpoint and --refiner-model out",
        )


def make_refiner(args: argparse.Namespace):
    """The segmenter named by ``--refiner`` (None when no refiner was asked for)."""
    if not args.refiner:
        return None
    from vosam.cli.common import check_refiner_model
    from vosam.spec import RefinerSpec

    checkpoint = args.refiner_checkpoint
    if checkpoint is not None and not checkpoint.is_file():
        raise InputError(checkpoint, "checkpoint file does not exist")
    check_refiner_model(args)
    spec = RefinerSpec(
        args.refiner,
        checkpoint=None if checkpoint is None else str(checkpoint),
        model=args.refiner_model,
        weights=args.refiner_weights,
    )
    return spec.build_segmenter(args.device)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "discover",
        help="find and segment the moving objects of a video without annotation",
        description="Unsupervised video object segmentation: discover the prominent moving "
        "objects from motion and appearance, link them into box trajectories, segment them "
        "(prompting --refiner with the boxes) and keep them consistent with the propagator. "
        "With --boxes, the trajectories come from a file (any tracker's output) instead. "
        f"Writes a DAVIS-palette PNG per frame and {TRAJECTORIES_FILE}.",
    )
    p.add_argument("source", type=Path, help="folder of JPEG/PNG frames, or a video file")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--boxes",
        type=Path,
        metavar="TRAJ.json",
        help="segment these box trajectories (vosam trajectories JSON) instead of discovering",
    )
    p.add_argument("--max-objects", type=int, default=5, help="most objects kept (default 5)")
    p.add_argument(
        "--keyframes",
        type=int,
        default=4,
        help="with --propagate: confident frames per object given to the propagator as "
        "annotations (default 4)",
    )
    p.add_argument(
        "--propagate",
        action="store_true",
        help="run the embedded propagator from each object's most confident frames and "
        "fill the frames where an object has no box (occlusions, missed detections)",
    )
    p.add_argument(
        "--propagate-all",
        action="store_true",
        help="segment-then-propagate: every frame's mask comes from the embedded propagator "
        "run from each object's most confident frames (implies --propagate)",
    )
    p.add_argument(
        "--no-snap",
        action="store_true",
        help="without a refiner: keep the coarse masks of the discovered foreground instead "
        "of snapping them to the image's edges (colour graph cut)",
    )
    p.add_argument(
        "--appearance",
        choices=("objectness", "border"),
        default="objectness",
        help="appearance cue fused with motion: objectness learned on DAVIS masks (default) "
        "or the training-free border-contrast saliency",
    )
    p.add_argument("--overwrite", action="store_true", help="replace another run's results")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_refiner_arguments(p, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.devices import resolve_device
    from vosam.discover import (
        DiscoverConfig,
        discover_objects,
        read_trajectories,
        segment_trajectories,
        write_trajectories,
    )
    from vosam.discover.snap import SnapConfig
    from vosam.io import open_source, write_frame_map, write_mask
    from vosam.progress import Progress
    from vosam.runs import check_apart, check_output, input_digest, source_identity, staged_run
    from vosam.spec import EngineSpec

    take_refiner_weights(args, default=None)
    if args.max_objects < 1:
        raise InputError(None, "--max-objects must be at least 1")
    if args.keyframes < 0:
        raise InputError(None, "--keyframes must be at least 0")
    if args.boxes is not None and not args.refiner:
        raise InputError(args.boxes, "segmenting given boxes needs a --refiner")
    source = open_source(args.source)
    trajectories = None
    if args.boxes is not None:
        trajectories = read_trajectories(args.boxes, names=source.names, size=source.size)
    device = str(resolve_device(args.device))
    check_apart([args.out], [args.source, args.boxes, args.refiner_checkpoint])
    config = DiscoverConfig(
        appearance=args.appearance,
        max_objects=args.max_objects,
        keyframes=args.keyframes,
        propagate=args.propagate or args.propagate_all,
        propagate_all=args.propagate_all,
        snap=None if args.no_snap else SnapConfig(),
    )
    settings = {
        "command": "discover",
        "source": str(args.source.resolve()),
        "source_id": source_identity(args.source),
        "boxes": str(args.boxes.resolve()) if args.boxes else None,
        "boxes_sha256": input_digest(args.boxes) if args.boxes else None,
        "device": device,
        "refiner": args.refiner,
        "refiner_checkpoint": str(args.refiner_checkpoint) if args.refiner_checkpoint else None,
        "refiner_model": args.refiner_model,
        "max_objects": args.max_objects,
        "keyframes": args.keyframes,
        "propagate": config.propagate,
        "propagate_all": config.propagate_all,
        "snap": config.snap is not None,
        "appearance": args.appearance,
        "version": vosam.__version__,
    }
    if args.refiner_weights is not None:
        settings["refiner_weights"] = args.refiner_weights
    state = check_output(args.out, settings=settings, names=source.names, overwrite=args.overwrite)
    if state.kind == "done":
        print(f"{args.out}: already complete, nothing to do", file=sys.stderr)
        return 0
    segmenter = make_refiner(args)
    discovery = None
    with staged_run(args.out, settings) as out, source:
        if trajectories is None:
            with Progress(len(source), "frames (discovery)", enabled=not args.quiet) as bar:
                discovery = discover_objects(source, config=config, device=device, progress=bar)
            trajectories = discovery.trajectories
        write_trajectories(
            out.path / TRAJECTORIES_FILE, trajectories, names=source.names, size=source.size
        )
        propagator = EngineSpec("embedded").build(device) if config.propagate else None
        passes = 2 if config.propagate and config.keyframes else 1
        count = 0
        with Progress(passes * len(source), "frames (masks)", enabled=not args.quiet) as bar:
            for index, mask in segment_trajectories(
                source,
                trajectories,
                segmenter=segmenter,
                propagator=propagator,
                discovery=discovery,
                config=config,
                progress=bar,
            ):
                write_mask(out.path / f"{source.names[index]}.png", mask)
                count += 1
        write_frame_map(out.path, source)
        out.frames = count
    print(
        f"wrote {count} masks of {len(trajectories)} objects and {TRAJECTORIES_FILE} to {args.out}",
        file=sys.stderr,
    )
    return 0
