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
        description="Propagate the annotated masks through the video, then pick the frames "
        "that differ most from the annotated ones (XMem++'s diversity-based suggestion) and "
        "print their names, one per line, in the order chosen.",
    )
    p.add_argument("source", type=Path, help="folder of JPEG/PNG frames, or a video file")
    p.add_argument(
        "--masks", type=Path, required=True, help="folder of annotation PNGs named after frames"
    )
    p.add_argument("--k", type=int, default=5, help="how many frames to suggest (default 5)")
    add_input_args(p)
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from vosam.annotate import select_frames
    from vosam.cli.common import build_engine
    from vosam.devices import device_name
    from vosam.io import open_source, read_annotations, require_objects
    from vosam.session import Session, SessionConfig

    if args.k < 1:
        raise InputError(None, "--k must be at least 1")
    source = open_source(args.source)
    annotations = read_annotations(args.masks, source.names, source.size, binarize=args.binarize)
    require_objects(annotations, args.masks)
    if len(annotations) == len(source):
        raise InputError(
            args.source,
            f"every frame of the video ({len(source)}) is annotated: there is no frame left "
            "to suggest",
        )
    device_name(args.device)
    propagator = build_engine(args)
    config = SessionConfig(permanent_memory=not args.no_permanent_memory)
    with Session(source, propagator=propagator, config=config) as session:
        for index, mask in annotations.items():
            session.add_annotation(index, mask)
        masks: list[np.ndarray] = []
        features = []
        for index, image, result in session.propagate_frames():
            masks.append(annotations.get(index, result.mask))
            features.append(propagator.encode_key(image))
        picked = select_frames(features, masks, annotations, k=args.k)
    log.info("suggested %d of %d frames", len(picked), len(masks))
    if len(picked) < args.k:
        print(
            f"vosam suggest: {len(picked)} of the {args.k} frames asked for qualify (frames "
            "whose predicted masks are nearly empty are not suggested)",
            file=sys.stderr,
        )
    for index in picked:
        print(source.names[index])
    return 0
