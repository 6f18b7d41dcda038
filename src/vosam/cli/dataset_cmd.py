"""``vosam dataset``: every sequence of a DAVIS-layout root, first-frame annotation as input."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import vosam
from vosam.cli.common import add_engine_args, build_engine, engine_settings
from vosam.datasets.davis import DavisSequence, find_davis_sequences
from vosam.engines import Propagator
from vosam.errors import OutputError
from vosam.io import FolderSource, read_mask
from vosam.progress import Progress
from vosam.runs import finish_output, is_complete, prepare_output, write_results
from vosam.session import Session, SessionConfig


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    wanted = args.sequences.split(",") if args.sequences else None
    sequences = find_davis_sequences(args.root, resolution=args.resolution, names=wanted)
    args.out.mkdir(parents=True, exist_ok=True)
    base = {"command": "dataset", "version": vosam.__version__, **engine_settings(args)}
    engine: Propagator | None = None
    done = 0
    for seq in sequences:
        settings = {**base, "sequence": seq.name, "frames": str(seq.frames.resolve())}
        target = args.out / seq.name
        source = FolderSource(seq.frames)
        if is_complete(target, settings, source.names):
            print(f"{seq.name}: already complete", file=sys.stderr)
            continue
        if not args.overwrite and target.is_dir() and any(target.iterdir()):
            raise OutputError(target, "holds results of another run; pass --overwrite")
        engine = engine or build_engine(args)
        run_sequence(seq, source, engine, target, settings, args)
        done += 1
    print(f"segmented {done} of {len(sequences)} sequences into {args.out}", file=sys.stderr)
    return 0


def run_sequence(
    seq: DavisSequence,
    source: FolderSource,
    engine: Propagator,
    target: Path,
    settings: dict,
    args: argparse.Namespace,
) -> None:
    """Segment one sequence into a hidden folder, then move it into place.

    The caller has checked that ``target`` may be replaced.
    """
    partial = target.parent / f".{target.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    prepare_output(
        partial,
        inputs=[seq.frames, seq.annotations],
        settings=settings,
        names=source.names,
        overwrite=True,
    )
    session = Session(
        source,
        propagator=engine,
        config=SessionConfig(permanent_memory=not args.no_permanent_memory),
    )
    first = seq.first_annotation()
    index = source.names.index(first.stem)
    session.add_annotation(index, read_mask(first, expected_size=source.size))
    label = f"{seq.name} frames"
    with session, Progress(len(source), label, enabled=not args.quiet) as bar:
        count = write_results(session, session.propagate_frames(), partial, progress=bar)
    finish_output(partial, settings, count)
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
