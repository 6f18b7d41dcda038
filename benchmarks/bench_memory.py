"""Peak memory of an embedded engine against video length: it must stay flat.

A long video is made by playing a DAVIS sequence forward and backward (no file holds it:
frames are produced one at a time), segmented end to end with PNGs written, once per length,
each run in a fresh process so that its peak resident memory is its own.

    python benchmarks/bench_memory.py --lengths 500,5000 [--engine embedded|embedded-v1]
        [--short-side 480] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


class PingPong:
    """Frames of ``folder`` played forward, backward, forward... up to ``length`` frames."""

    def __init__(self, folder: Path, length: int, scale: float) -> None:
        from vosam.io import FolderSource

        self.base = FolderSource(folder)
        self.length = length
        self.scale = scale
        n = len(self.base)
        period = 2 * n - 2
        self.order = [i % period if i % period < n else period - i % period for i in range(length)]

    def frame(self, t: int) -> np.ndarray:
        img = self.base.read(self.order[t])
        if self.scale != 1.0:
            img = cv2.resize(img, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        return img


def run_one(args: argparse.Namespace) -> None:
    from vosam import registry
    from vosam.engines import build_propagator
    from vosam.io import read_mask, write_mask

    seq = args.data / "davis2016-train" / "JPEGImages" / "480p" / args.sequence
    ann = args.data / "davis2016-train" / "Annotations" / "480p" / args.sequence / "00000.png"
    video = PingPong(seq, args.length, args.scale)
    mask = read_mask(ann)
    if args.scale != 1.0:
        mask = cv2.resize(mask, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_NEAREST)
    config = registry.config_class("engine", args.engine)(short_side=args.short_side)
    engine = build_propagator(args.engine, config=config, device="cpu")
    tracker = engine.new_tracker()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for t in range(args.length):
            image = video.frame(t)
            result = tracker.step(t, image, annotation=mask if t == 0 else None)
            write_mask(Path(out) / f"{t:05d}.png", result.mask)
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "frames": args.length,
                "peak_rss_mib": round(peak_mib, 1),
                "engine": args.engine,
                "frames_per_s": round(args.length / elapsed, 2),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sequence", default="boat")
    parser.add_argument("--lengths", default="500,5000")
    parser.add_argument("--engine", default="embedded", help="embedded or embedded-v1")
    parser.add_argument("--short-side", type=int, default=480)
    parser.add_argument("--scale", type=float, default=1.0, help="resize frames first")
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.length:
        run_one(args)
        return
    for length in [int(x) for x in args.lengths.split(",")]:
        cmd = [
            sys.executable,
            __file__,
            "--length",
            str(length),
            "--data",
            str(args.data),
            "--sequence",
            args.sequence,
            "--engine",
            args.engine,
            "--short-side",
            str(args.short_side),
            "--scale",
            str(args.scale),
        ]
        print(
            subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip(),
            flush=True,
        )


if __name__ == "__main__":
    main()
