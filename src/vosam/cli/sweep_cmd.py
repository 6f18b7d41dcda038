"""``vosam sweep``: several engine configurations over one dataset, one comparison table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vosam.cli.executor_args import add_executor_args, executor_from_args

_EPILOG = """\
sweep file (TOML; JSON takes the same keys):
  sequences = ["bear", "tennis"]          # optional, default: every sequence
  [[runs]]
  name = "xmem-plus-plus"                 # OUT/<name>/ and the table's row
  [[runs]]
  name = "plain-xmem-memory"
  permanent_memory = false
  [[runs]]
  name = "top-k-10"
  options = { memory = { top_k = 10 } }   # fields of the engine's config
  [[runs]]
  name = "refined"
  refiner = { name = "embedded", refine = "every", gate = 0.9 }  # as --refiner ...
  # also: engine = "xmem", checkpoint = "XMem.pth", device = "cuda"

example:
  vosam sweep sweep.toml --root DAVIS --out sweeps/ --executor ray --ray-address HEAD:6379
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run several configurations over a dataset and compare them",
        description="Segment every sequence of a DAVIS-layout ROOT with each run of the "
        "sweep file, score each run (DAVIS semi-supervised J&F) and write "
        "OUT/comparison.csv and OUT/comparison.md. Sequences already complete are skipped, "
        "so an interrupted sweep resumes where it stopped.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", type=Path, metavar="CONFIG", help="sweep file (.toml or .json)")
    p.add_argument("--root", type=Path, required=True, help="DAVIS-layout dataset root")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--sequences", help="comma-separated names (overrides the sweep file's)")
    p.add_argument("--resolution", default="480p", help="resolution folder (default 480p)")
    p.add_argument("--overwrite", action="store_true", help="replace other runs' results")
    add_executor_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.distributed.sweep import load_sweep, run_sweep

    runs, sequences = load_sweep(args.config)
    if args.sequences:
        sequences = args.sequences.split(",")
    with executor_from_args(args) as executor:
        rows = run_sweep(
            executor,
            runs,
            args.root,
            args.out,
            sequences=sequences,
            resolution=args.resolution,
            overwrite=args.overwrite,
            report=lambda line: print(line, file=sys.stderr),
        )
    print((args.out / "comparison.md").read_text(), end="")
    print(f"{len(rows)} runs compared in {args.out / 'comparison.csv'}", file=sys.stderr)
    return 0
