"""``vosam segment``: one video and its annotated frames → a mask for every frame."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vosam
from vosam.cli.common import add_engine_args, add_input_args, add_refiner_args


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
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of another vosam run in --out (only the files it wrote)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_input_args(p, tolerate=True)
    add_engine_args(p)
    add_refiner_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.cli.common import build_engine, build_refiner, engine_settings, report_skipped
    from vosam.devices import device_name
    from vosam.errors import OutputError
    from vosam.io import (
        OverlayVideoWriter,
        annotation_files,
        open_source,
        read_annotations,
        require_objects,
    )
    from vosam.progress import Progress
    from vosam.runs import (
        Sinks,
        check_apart,
        check_output,
        clear_overlay_leftovers,
        input_digest,
        source_identity,
        staged_run,
        write_results,
    )
    from vosam.session import Session, SessionConfig

    source = open_source(args.source, tolerate_corrupt=args.tolerate_corrupt)
    files = annotation_files(args.masks, source.names)
    annotations = read_annotations(args.masks, source.names, source.size, binarize=args.binarize)
    require_objects(annotations, args.masks)
    if args.overlay is not None and args.fps <= 0:
        raise OutputError(args.overlay, f"--fps must be positive, got {args.fps}")
    device = device_name(args.device)
    check_apart([args.out, args.overlay, args.save_scores], [args.source, args.masks])
    if args.save_scores is not None and args.save_scores.resolve() == args.out.resolve():
        raise OutputError(args.save_scores, "scores need a folder of their own")
    settings = {
        "command": "segment",
        "source": str(args.source.resolve()),
        "source_id": source_identity(args.source),
        "masks": str(args.masks.resolve()),
        "annotations": {file.name: input_digest(file) for file in files.values()},
        "binarize": args.binarize,
        "tolerate_corrupt": args.tolerate_corrupt,
        "device": device,
        "version": vosam.__version__,
        **engine_settings(args),
    }
    requested = {
        "overlay": {"fps": args.fps, "path": str(args.overlay.resolve())} if args.overlay else None,
        "scores": {"path": str(args.save_scores.resolve())} if args.save_scores else None,
    }
    state = check_output(
        args.out,
        settings=settings,
        names=source.names,
        overwrite=args.overwrite,
        requested=requested,
    )
    if state.kind == "done":
        print(f"{args.out}: already complete, nothing to do", file=sys.stderr)
        return 0
    if state.kind == "extend":
        print(f"{args.out}: {state.reason}; running again to write it", file=sys.stderr)
    session = Session(
        source,
        propagator=build_engine(args),
        config=SessionConfig(permanent_memory=not args.no_permanent_memory),
        refiner=build_refiner(args),
    )
    for index, mask in annotations.items():
        session.add_annotation(index, mask)
    with staged_run(args.out, settings) as out, session:
        scores = None
        if args.save_scores is not None:
            scores = out.stage_folder("scores", args.save_scores, requested["scores"])
        overlay = None
        if args.overlay is not None:
            clear_overlay_leftovers(args.overlay)
            overlay = OverlayVideoWriter(args.overlay, args.fps, source.size)
        with Progress(len(source), "frames", enabled=not args.quiet) as bar:
            try:
                out.frames = write_results(
                    session,
                    session.propagate_frames(),
                    out.path,
                    sinks=Sinks(scores_dir=scores, overlay=overlay),
                    progress=bar,
                )
            except BaseException:
                if overlay is not None:
                    overlay.abort()
                raise
        out.skipped = {source.names[i]: why for i, why in source.skipped.items()}
        if overlay is not None:
            overlay.close()
            out.record_file("overlay", args.overlay, requested["overlay"])
    report_skipped("segment", source)
    print(f"wrote {out.frames} masks to {args.out}", file=sys.stderr)
    return 0
