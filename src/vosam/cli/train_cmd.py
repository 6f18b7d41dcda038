"""``vosam train``: fit the learned part of the embedded engine (its parent appearance
model) on annotated videos, on a CPU."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vosam.errors import InputError, OutputError

FORMATS = ("davis", "youtube-vos", "lvos", "long-video")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fit the embedded engine's parent appearance model on annotated videos",
        description="Fit the parent appearance model of the embedded engine (a ridge "
        "model from frozen EfficientNet-Lite0 features to foreground/background, "
        "class-balanced) on every annotated frame (every --frame-step-th) of a dataset; "
        "use it with vosam segment/dataset --checkpoint OUT. The model is solved in closed "
        "form from sums over the frames, so one pass is the whole training: an interrupted "
        "run resumes from its checkpoint after the last finished video.",
    )
    p.add_argument("root", type=Path, help="dataset root")
    p.add_argument("--out", type=Path, required=True, help="the model file to write (.npz)")
    p.add_argument("--format", default="davis", choices=FORMATS, help="dataset layout")
    p.add_argument("--split", help="a split of the dataset (ImageSets/<split>.txt for DAVIS)")
    p.add_argument("--sequences", help="comma-separated names of the videos to use")
    p.add_argument("--resolution", default="480p", help="DAVIS resolution folder")
    p.add_argument(
        "--init",
        choices=("shipped", "scratch"),
        default="shipped",
        help="shipped: add these videos to the statistics of the model vosam ships "
        "(default); scratch: these videos alone",
    )
    p.add_argument(
        "--frame-step",
        type=int,
        default=6,
        help="use every N-th annotated frame of each video (default 6)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    p.add_argument("--overwrite", action="store_true", help="replace a model file vosam wrote")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.datasets import open_dataset
    from vosam.engines.fused.train import check_out, train_parent

    if args.frame_step < 1:
        raise InputError(None, f"--frame-step must be at least 1, got {args.frame_step}")
    if args.out.suffix != ".npz":
        raise OutputError(args.out, "the model file is an .npz file; name it so")
    check_out(args.out, overwrite=args.overwrite)
    names = args.sequences.split(",") if args.sequences else None
    options = {"resolution": args.resolution} if args.format == "davis" else {}
    sequences = open_dataset(args.format, args.root, split=args.split, names=names, **options)
    model = train_parent(
        sequences,
        args.out,
        init=args.init,
        frame_step=args.frame_step,
        device=args.device,
        progress=not args.quiet,
        command=" ".join(["vosam", *sys.argv[1:]]) if sys.argv else "vosam train",
    )
    print(
        f"wrote {args.out}: {model.frames} frames of {len(model.videos)} videos",
        file=sys.stderr,
    )
    return 0
