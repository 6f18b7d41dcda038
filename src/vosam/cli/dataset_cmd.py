"""``vosam dataset``: every sequence of a dataset in its published layout, on an executor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vosam import registry
from vosam.cli.common import add_engine_args, add_refiner_args, add_wait_arg, run_spec_from_args
from vosam.cli.executor_args import add_executor_args, executor_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset",
        help="segment every sequence of a dataset in its published layout",
        description="Run every sequence of ROOT (DAVIS, YouTube-VOS, LVOS, Long-time Video or "
        "YouTube-VIS, as --format says) from its input annotations and write the results in "
        "the layout the format's official evaluation or server reads (DAVIS: "
        "OUT/<seq>/<frame>.png for every frame). Every format runs on every executor and "
        "takes the refiner options.",
    )
    p.add_argument("root", type=Path, help="dataset root (see --format)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--sequences", help="comma-separated sequence names (default: all)")
    p.add_argument("--resolution", default="480p", help="davis: resolution folder (default 480p)")
    p.add_argument(
        "--format",
        default="davis",
        choices=registry.names("format"),
        help="layout of ROOT (default davis); youtube-vos writes OUT/Annotations/<video>/ "
        "with only the frames meta.json lists, youtube-vis also OUT/results.json, the others "
        "OUT/<video>/ with every frame",
    )
    p.add_argument(
        "--split",
        help="youtube-vos/lvos: train, valid (default) or test; youtube-vis: train (default); "
        "davis: e.g. 2017/val",
    )
    p.add_argument(
        "--long-video-x3",
        action="store_true",
        help="play each video forward, backward and forward again (Long-time Video x3)",
    )
    p.add_argument(
        "--zip",
        type=Path,
        metavar="FILE",
        help="also write FILE.zip holding only the result PNGs in the format's layout, "
        "ready for the evaluation server (YouTube-VOS, DAVIS test-dev, LVOS test)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of other vosam runs (only the files they wrote)",
    )
    add_wait_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_engine_args(p)
    add_refiner_args(p)
    add_executor_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.datasets import open_dataset
    from vosam.distributed.segment import segment_dataset
    from vosam.runs import check_extras, locked_outputs

    wanted = args.sequences.split(",") if args.sequences else None
    options = {"resolution": args.resolution} if args.format == "davis" else {}
    sequences = open_dataset(args.format, args.root, split=args.split, names=wanted, **options)
    extras = _extras(args, sequences)
    with locked_outputs(args.out, extras, wait=args.wait, command="dataset"):
        check_extras(args.out, extras)
        # one task per sequence; each is written to a hidden folder and renamed into place
        with executor_from_args(args) as executor:
            outcomes, complete = segment_dataset(
                executor,
                sequences,
                args.out,
                run_spec_from_args(args),
                overwrite=args.overwrite,
                x3=args.long_video_x3,
                show_progress=not args.quiet,
                lock=False,
            )
        for name in complete:
            print(f"{name}: already complete", file=sys.stderr)
        done = sum(o.status == "segmented" for o in outcomes)
        print(f"segmented {done} of {len(sequences)} sequences into {args.out}", file=sys.stderr)
        _write_extras(args, sequences, extras)
    return 0


def _extras(args: argparse.Namespace, sequences: list) -> list:  # -> list[vosam.runs.Extra]
    """The outputs besides the sequence folders: ``results.json`` (youtube-vis) and
    ``--zip``, recorded in ``OUT/run.json``.

    Raises:
        OutputError: the zip is an input, lies inside one or inside a sequence's folder.
    """
    from vosam.errors import OutputError
    from vosam.runs import Extra, check_apart

    extras = []
    if args.format == "youtube-vis":
        extras.append(Extra("results", args.out / "results.json"))
    if args.zip is not None:
        inputs = [p for s in sequences for p in (s.frames, s.annotations)]
        check_apart([args.zip], inputs)
        zip_path = args.zip.resolve()
        out = args.out.resolve()
        if zip_path == out:
            raise OutputError(args.zip, "is --out; name a file for the zip")
        for seq in sequences:
            folder = (args.out / seq.output).resolve()
            if folder == zip_path or folder in zip_path.parents:
                where = args.out / seq.output
                raise OutputError(
                    args.zip,
                    f"is inside the results folder of sequence '{seq.name}' ({where}); "
                    "write the zip elsewhere",
                )
        extras.append(Extra("zip", args.zip))
    return extras


def _write_extras(args: argparse.Namespace, sequences: list, extras: list) -> None:
    from vosam.runs import staged_extra

    for extra in extras:
        with staged_extra(args.out, extra) as staged:
            if extra.key == "results":
                from vosam.datasets.youtube_vis import write_vis_results

                tracks = write_vis_results(staged, args.root, args.out, split=args.split)
                print(f"{tracks} tracks in {extra.path}", file=sys.stderr)
            else:
                from vosam.datasets.submission import write_submission

                count = write_submission(staged, args.out, sequences)
                print(f"{count} masks in {extra.path}", file=sys.stderr)
