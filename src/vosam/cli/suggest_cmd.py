"""``vosam suggest``: which frames to annotate next (XMem++ frame suggestion)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vosam.cli.common import add_engine_args, add_input_args
from vosam.errors import InputError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "suggest",
        help="suggest the next frames to annotate",
        description="Pick the frames that differ most from the annotated ones (XMem++'s "
        "diversity-based suggestion) and print their names, one per line, in the order "
        "chosen. With --results the masks a vosam segment run wrote are used as they are "
        "(each frame is encoded once); with --masks the annotations are propagated first.",
    )
    p.add_argument("source", type=Path, help="folder of JPEG/PNG frames, or a video file")
    p.add_argument(
        "--masks",
        type=Path,
        help="folder of annotation PNGs named after frames: propagated first, unless "
        "--results is given (then they only say which frames are annotated)",
    )
    p.add_argument(
        "--results",
        type=Path,
        help="output folder of a finished vosam segment run of this video: its masks are "
        "used, nothing is propagated; the annotated frames are those its run.json lists "
        "(or those of --masks)",
    )
    p.add_argument("--k", type=int, default=5, help="how many frames to suggest (default 5)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_input_args(p)
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.annotate import blend_frames, select_blended
    from vosam.cli.common import build_engine
    from vosam.devices import device_name
    from vosam.io import open_source, read_annotations, require_objects
    from vosam.progress import Progress

    if args.k < 1:
        raise InputError(None, "--k must be at least 1")
    if args.masks is None and args.results is None:
        raise InputError(
            None,
            "give --results (the output folder of vosam segment on this video) or --masks "
            "(annotations to propagate)",
        )
    source = open_source(args.source)
    if args.results is not None:
        pairs, annotated = _from_results(args, source)
    else:
        annotations = read_annotations(
            args.masks, source.names, source.size, binarize=args.binarize
        )
        require_objects(annotations, args.masks)
        annotated = sorted(annotations)
        pairs = None
    if len(annotated) == len(source):
        raise InputError(
            args.source,
            f"every frame of the video ({len(source)}) is annotated: there is no frame left "
            "to suggest",
        )
    device_name(args.device)
    propagator = build_engine(args)
    quiet = args.quiet
    with source, Progress(len(source), "frames", enabled=not quiet) as bar:
        if pairs is None:
            pairs = _propagated(args, source, propagator, annotations)
        blended, covered = blend_frames(propagator, pairs, progress=lambda _: bar.update())
    with Progress(None, "comparisons", enabled=not quiet) as bar:

        def compared(done: int, total: int) -> None:
            bar.total = total
            bar.update()

        picked = select_blended(blended, covered, annotated, k=args.k, progress=compared)
    log.info("suggested %d of %d frames", len(picked), len(blended))
    if len(picked) < args.k:
        print(
            f"vosam suggest: {len(picked)} of the {args.k} frames asked for qualify (frames "
            "whose masks are nearly empty are not suggested)",
            file=sys.stderr,
        )
    for index in picked:
        print(source.names[index])
    return 0


def _from_results(args: argparse.Namespace, source):
    """The ``(frame, mask)`` pairs of a results folder and the annotated frames."""
    from vosam.io import annotation_files
    from vosam.runs import ResultMasks, given_frames

    masks = ResultMasks(args.results, source.names, source.size)
    if args.masks is not None:
        annotated = sorted(annotation_files(args.masks, source.names))
    else:
        annotated = given_frames(args.results, source.names, args.source)
    pairs = ((image, masks[index]) for index, image in source.frames())
    return pairs, annotated


def _propagated(args: argparse.Namespace, source, propagator, annotations):
    """``(frame, mask)`` pairs as the annotations propagate forward: the annotation on an
    annotated frame, the propagated mask elsewhere."""
    from vosam.session import Session, SessionConfig

    config = SessionConfig(permanent_memory=not args.no_permanent_memory)
    session = Session(source, propagator=propagator, config=config)
    for index, mask in annotations.items():
        session.add_annotation(index, mask)
    for index, image, result in session.propagate_frames():
        yield image, annotations.get(index, result.mask)
