"""``vosam segment``: one video (a file, a frame folder or a live stream) and its annotated
frames or prompts → a mask for every frame."""

from __future__ import annotations

import argparse
from pathlib import Path

from vosam.cli.common import add_engine_args, add_input_args, add_refiner_args


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


def add_prompt_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "prompts",
        "boxes and clicks instead of (or besides) annotated masks; coordinates are frame "
        "pixels, x to the right, y down",
    )
    group.add_argument(
        "--box",
        action="append",
        default=[],
        metavar="X0,Y0,X1,Y1",
        help="a box around an object (corners inclusive); several --box are several "
        "objects, numbered from --object up",
    )
    group.add_argument(
        "--click",
        action="append",
        default=[],
        metavar="X,Y[,+|-]",
        help="a click on (+, the default) or off (-) the object --object; with a --box it "
        "corrects the first box's object",
    )
    group.add_argument(
        "--frame",
        default="0",
        help="frame of --box and --click: an index or a frame name (default 0, the first)",
    )
    group.add_argument(
        "--object",
        type=int,
        help="object id of the first --box or of the clicks, 1..254 (default: 1, or one "
        "more than the largest id of --masks)",
    )
    group.add_argument(
        "--prompts",
        type=Path,
        help='a JSON file of prompts for many objects and frames: {"prompts": [{"frame": '
        '0, "object": 1, "box": [x0, y0, x1, y1], "points": [[x, y]], "labels": [1]}]}',
    )
    group.add_argument(
        "--segmenter",
        default="embedded",
        help="promptable segmenter that turns prompts into masks for engines that take "
        "masks (embedded, xmem): embedded (default, no download), sam, sam-hq or sam2",
    )
    group.add_argument(
        "--segmenter-weights",
        metavar="NAME",
        help="a named model of sam, sam-hq or sam2 (vosam models list: sam-vit-b, "
        "sam-hq-vit-tiny, sam2.1-hiera-tiny...), fetched once into the cache; sets "
        "--segmenter and --segmenter-model",
    )
    group.add_argument("--segmenter-checkpoint", type=Path, help="weights file of the --segmenter")
    group.add_argument(
        "--segmenter-model",
        help="sam/sam-hq: vit_h, vit_l or vit_b (sam-hq also vit_tiny); sam2: a config such as "
        "configs/sam2.1/sam2.1_hiera_t.yaml",
    )


def add_stream_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "streams",
        "a stream is segmented as its frames arrive; annotations and prompts go on its first "
        "frames; Ctrl-C (or --max-frames) ends the run cleanly, keeping the masks written",
    )
    group.add_argument(
        "--max-frames",
        type=int,
        help="streams: stop after this many frames (the run is marked stopped early)",
    )
    group.add_argument(
        "--stream-format",
        help="streams: FFmpeg's input format when it is not found by itself (mpegts, "
        "h264, v4l2...)",
    )
    group.add_argument(
        "--stream-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="streams: an FFmpeg input option, e.g. rtsp_transport=tcp, video_size=640x480",
    )
    group.add_argument(
        "--preview",
        type=Path,
        help="keep the latest overlay frame in this JPEG file (replaced as frames arrive)",
    )


def run(args: argparse.Namespace) -> int:
    from vosam.cli.segment_run import run as run_segment

    return run_segment(args)
