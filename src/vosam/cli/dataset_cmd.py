"""``vosam dataset``: every sequence of a DAVIS-layout root, first-frame annotation as input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vosam.cli.common import add_engine_args
from vosam.cli.executor_args import add_executor_args, engine_spec_from_args, executor_from_args
from vosam.datasets.davis import find_davis_sequences
from vosam.distributed.segment import segment_dataset


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset",
        help="segment every sequence of a DAVIS-layout dataset",
        description="Run every sequence of ROOT (JPEGImages/<res>/<seq>, "
        "Annotations/<res>/<seq>) from its first annotated frame and write "
        "OUT/<seq>/<frame>.png for every frame, the layout the DAVIS evaluation reads.",
    )
    p.add_argument("root", type=Path, help="dataset root holding JPEGImages/ and Annotations/")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--sequences", help="comma-separated sequence names (default: all)")
    p.add_argument("--resolution", default="480p", help="resolution folder (default 480p)")
    p.add_argument("--overwrite", action="store_true", help="replace other runs' results")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_engine_args(p)
    add_executor_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    wanted = args.sequences.split(",") if args.sequences else None
    sequences = find_davis_sequences(args.root, resolution=args.resolution, names=wanted)
    # one task per sequence; each is written to a hidden folder and renamed into place
    with executor_from_args(args) as executor:
        outcomes, complete = segment_dataset(
            executor,
            sequences,
            args.out,
            engine_spec_from_args(args),
            overwrite=args.overwrite,
            show_progress=not args.quiet,
        )
    for name in complete:
        print(f"{name}: already complete", file=sys.stderr)
    done = sum(o.status == "segmented" for o in outcomes)
    print(f"segmented {done} of {len(sequences)} sequences into {args.out}", file=sys.stderr)
    return 0
