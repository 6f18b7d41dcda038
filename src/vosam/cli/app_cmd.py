"""``vosam app``: the interactive web app (click, propagate, correct, export)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from vosam.engines import available_engines

    p = sub.add_parser(
        "app",
        help="serve the interactive web app",
        description="Serve a web page to open a video, mark objects with clicks, a box or a "
        "brush, propagate them forward or backward, correct frames (corrections become "
        "permanent-memory annotations), get suggested frames and export masks, an overlay "
        "video or YouTube-VIS JSON. Only files inside --workspace are read or written.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface (default: loopback only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 = any free)")
    p.add_argument(
        "--workspace",
        type=Path,
        default=Path.cwd(),
        help="the only folder the app opens videos from and writes to (default: here)",
    )
    p.add_argument("--engine", default="embedded", choices=available_engines())
    p.add_argument("--checkpoint", type=Path, help="weights of an engine that needs them")
    p.add_argument(
        "--segmenter",
        default="embedded",
        help="promptable segmenter for clicks and boxes (embedded, sam, sam-hq, sam2)",
    )
    p.add_argument("--segmenter-checkpoint", type=Path, help="weights of the segmenter")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--max-upload-mb", type=float, default=512.0, help="upload limit (MiB)")
    p.add_argument("--max-frames", type=int, default=2000, help="longest video accepted")
    p.add_argument("--workers", type=int, default=1, help="background jobs run at once")
    p.add_argument("--fps", type=float, default=24.0, help="frame rate of overlay videos")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vosam.app import AppConfig, create_server
    from vosam.errors import InputError
    from vosam.refine import available_segmenters

    if not args.workspace.is_dir():
        raise InputError(args.workspace, "workspace folder does not exist")
    if args.segmenter not in available_segmenters():
        raise InputError(
            None,
            f"unknown segmenter {args.segmenter!r}; choose one of "
            f"{', '.join(available_segmenters())}",
        )
    config = AppConfig(
        workspace=args.workspace,
        host=args.host,
        port=args.port,
        engine=args.engine,
        engine_options={"checkpoint": args.checkpoint} if args.checkpoint else {},
        segmenter=args.segmenter,
        segmenter_options=(
            {"checkpoint": args.segmenter_checkpoint} if args.segmenter_checkpoint else {}
        ),
        device=args.device,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_frames=args.max_frames,
        workers=args.workers,
        fps=args.fps,
    )
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(config.data_dir, f"cannot write in the workspace ({e.strerror})") from e
    try:
        server = create_server(config)
    except OSError as e:
        raise InputError(None, f"cannot listen on {args.host}:{args.port} ({e.strerror})") from e
    print(f"vosam app: serving {config.workspace} on {server.url} (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
