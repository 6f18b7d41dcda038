"""``vosam segment``: one video and its annotated frames → a mask for every frame."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vosam
from vosam.cli.common import (
    add_engine_args,
    add_refiner_args,
    build_engine,
    build_refiner,
    engine_settings,
)
from vosam.errors import OutputError
from vosam.io import OverlayVideoWriter, open_source, read_annotations
from vosam.progress import Progress
from vosam.runs import Sinks, finish_output, prepare_output, write_results
from vosam.session import Session, SessionConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="segment every frame of a video from annotated frames",
        description="Propagate the annotated masks through a video (frame folder or file) "
        "and write a DAVIS-palette PNG for every frame.",
    )
    p.add_argument("source", type=Path, help="folder of JPEG/PNG frames, or a video file")
    p.add_argument(
        "--masks", type=Path, required=True, help="folder of annotation PNGs named after frames"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder for the masks")
    p.add_argument("--overlay", type=Path, help="also write an overlay video (e.g. out.mp4)")
    p.add_argument(
        "--save-scores", type=Path, help="also write per-frame probabilities (N+1, H, W) as .npy"
    )
    p.add_argument("--fps", type=float, default=24.0, help="overlay frame rate (default 24)")
    p.add_argument("--overwrite", action="store_true", help="replace another run's results")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_engine_args(p)
    add_refiner_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = open_source(args.source)
    annotations = read_annotations(args.masks, source.names, source.size)
    settings = {
        "command": "segment",
        "source": str(args.source.resolve()),
        "masks": str(args.masks.resolve()),
        "version": vosam.__version__,
        **engine_settings(args),
    }
    inputs = [args.source, args.masks if args.masks.is_dir() else args.masks.parent]
    if not prepare_output(
        args.out, inputs=inputs, settings=settings, names=source.names, overwrite=args.overwrite
    ):
        print(f"{args.out}: already complete, nothing to do", file=sys.stderr)
        return 0
    if args.save_scores is not None:
        if args.save_scores.resolve() == args.out.resolve():
            raise OutputError(args.save_scores, "scores need a folder of their own")
        args.save_scores.mkdir(parents=True, exist_ok=True)
    session = Session(
        source,
        propagator=build_engine(args),
        config=SessionConfig(permanent_memory=not args.no_permanent_memory),
        refiner=build_refiner(args),
    )
    for index, mask in annotations.items():
        session.add_annotation(index, mask)
    overlay = OverlayVideoWriter(args.overlay, args.fps, source.size) if args.overlay else None
    with session, Progress(len(source), "frames", enabled=not args.quiet) as bar:
        try:
            count = write_results(
                session,
                session.propagate_frames(),
                args.out,
                sinks=Sinks(scores_dir=args.save_scores, overlay=overlay),
                progress=bar,
            )
        except BaseException:
            if overlay is not None:
                overlay.abort()
            raise
        if overlay is not None:
            overlay.close()
    finish_output(args.out, settings, count)
    print(f"wrote {count} masks to {args.out}", file=sys.stderr)
    return 0
