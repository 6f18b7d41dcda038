"""``vosam segment``: one video (a file, a frame folder or a live stream) and its annotated
frames or prompts → a mask for every frame."""

from __future__ import annotations

import argparse
from pathlib import Path

from vosam.cli.common import add_engine_args, add_input_args, add_refiner_args
from vosam.cli.prompt_args import add_prompt_args
from vosam.cli.stream_run import add_stream_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="segment every frame of a video from annotated frames or a box",
        description="Propagate annotated masks, or objects given by a box or clicks, through "
        "a video (frame folder, video file or live stream) and write a DAVIS-palette PNG "
        "for every frame.",
    )
    p.add_argument(
        "source",
        help="folder of JPEG/PNG frames, a video file, or a stream: - (standard input), "
        "rtsp://, http://, udp:// URLs, /dev/video0",
    )
    p.add_argument("--masks", type=Path, help="folder of annotation PNGs named after frames")
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
    add_prompt_args(p)
    add_stream_args(p)
    add_input_args(p, tolerate=True)
    add_engine_args(p)
    add_refiner_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.cli.segment_run import run as run_segment

    return run_segment(args)
