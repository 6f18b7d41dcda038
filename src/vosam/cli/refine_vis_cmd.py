"""``vosam refine-vis``: sharpen a video instance segmentation model's masks (YouTube-VIS
results) with a promptable segmenter, as LBVQ does with SAM."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vosam.cli.discover_cmd import add_refiner_arguments, make_refiner, take_refiner_weights
from vosam.errors import InputError, OutputError
from vosam.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "refine-vis",
        help="refine YouTube-VIS results with a promptable segmenter",
        description="Refine every instance mask of a YouTube-VIS results JSON with box (and "
        "mask) prompts and write the same format. Score before and after with "
        "'vosam eval GT.json RESULTS.json --task vis'.",
    )
    p.add_argument("results", type=Path, metavar="RESULTS.json", help="YouTube-VIS results")
    p.add_argument(
        "--videos",
        type=Path,
        required=True,
        metavar="ROOT",
        help="folder the metadata's file_names are relative to (or its JPEGImages/)",
    )
    p.add_argument(
        "--meta",
        type=Path,
        metavar="JSON",
        help="metadata with videos {id, file_names, height, width}, e.g. valid.json "
        "(default: the only .json file in ROOT)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="REFINED.json", help="output")
    p.add_argument(
        "--no-mask-prompt", action="store_true", help="prompt with the box only, not the mask"
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=0.3,
        help="keep the original mask when the refined one's IoU with it is below this "
        "(default 0.3)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_refiner_arguments(p, default="embedded")
    p.set_defaults(func=run)


def _metadata(args: argparse.Namespace) -> Path:
    if args.meta is not None:
        return args.meta
    if not args.videos.is_dir():
        raise InputError(args.videos, "videos folder does not exist")
    found = sorted(args.videos.glob("*.json"))
    if len(found) != 1:
        raise InputError(
            args.videos,
            f"holds {len(found)} .json files; name the metadata with --meta",
        )
    return found[0]


def run(args: argparse.Namespace) -> int:
    from vosam.discover.vis import (
        VisRefineConfig,
        frames_with_masks,
        read_vis_results,
        read_vis_videos,
        refine_vis,
    )
    from vosam.io import atomic_write_text

    take_refiner_weights(args, default="embedded")
    if args.out.resolve() == args.results.resolve():
        raise OutputError(args.out, "output would replace the input results")
    meta = _metadata(args)
    videos = read_vis_videos(meta)
    results = read_vis_results(args.results)
    segmenter = make_refiner(args)
    config = VisRefineConfig(mask_prompt=not args.no_mask_prompt, min_agreement=args.min_agreement)
    total = frames_with_masks(results, videos) if isinstance(results, list) else 0
    with Progress(total, "frames", enabled=not args.quiet) as bar:
        refined = refine_vis(
            results,
            videos,
            args.videos,
            segmenter,
            config=config,
            progress=bar,
            results_path=args.results,
        )
    atomic_write_text(args.out, json.dumps(refined) + "\n")
    print(f"wrote {len(refined)} refined tracks to {args.out}", file=sys.stderr)
    return 0
