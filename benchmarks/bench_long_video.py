"""Long-video benchmark: the embedded engine on a synthetic video of ≥ 5,000 frames.

The video is a DAVIS sequence of ``../shared/data`` played forward, backward, forward...
(the Long-time Video "×3" protocol, extended until ``--frames``), so every frame has its
ground truth. Only the first frame is annotated. Prints J&F, J and F mean / recall / decay
(decay: first quarter minus last quarter of the video), frames per second (propagation
only, scoring excluded) and peak resident memory, plus running figures every
``--report-every`` frames so a partial run still tells something.

    python benchmarks/bench_long_video.py --frames 5000 --scale 0.5
    python benchmarks/bench_long_video.py --frames 1000 --scale 1.0   # 480p
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def ping_pong(n: int, length: int) -> list[int]:
    """Indices 0..n-1, n-2..0, 1..n-1, ... up to ``length`` entries."""
    period = 2 * n - 2
    return [t % period if t % period < n else period - t % period for t in range(length)]


def load(folder: Path, masks: Path, scale: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from vosam.io import FolderSource, read_mask

    source = FolderSource(folder)
    images, gts = [], []
    for index, image in source.frames():
        gt = read_mask(masks / f"{source.names[index]}.png")
        if scale != 1.0:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            gt = cv2.resize(gt, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        images.append(image)
        gts.append(gt)
    return images, gts


def figures(j: list[float], f: list[float]) -> dict[str, float]:
    from vosam.eval.stats import summarize

    sj, sf = summarize(np.array(j)), summarize(np.array(f))
    return {
        "J&F-Mean": round((sj.mean + sf.mean) / 2, 4),
        "J-Mean": round(sj.mean, 4),
        "J-Recall": round(sj.recall, 4),
        "J-Decay": round(sj.decay, 4),
        "F-Mean": round(sf.mean, 4),
        "F-Recall": round(sf.recall, 4),
        "F-Decay": round(sf.decay, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sequence", default="tennis", help="davis2016-train sequence")
    parser.add_argument("--frames", type=int, default=5000, help="length of the video")
    parser.add_argument("--scale", type=float, default=1.0, help="resize frames (0.5: 427×240)")
    parser.add_argument("--score-every", type=int, default=5, help="score every k-th frame")
    parser.add_argument("--report-every", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from vosam.engines.embedded import EmbeddedConfig, EmbeddedPropagator
    from vosam.eval.metrics import f_measure, jaccard

    base = args.data / "davis2016-train"
    images, gts = load(
        base / "JPEGImages" / "480p" / args.sequence,
        base / "Annotations" / "480p" / args.sequence,
        args.scale,
    )
    h, w = gts[0].shape
    short = min(h, w)
    order = ping_pong(len(images), args.frames)
    engine = EmbeddedPropagator(EmbeddedConfig(short_side=short), device="cpu")
    tracker = engine.new_tracker()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    j: list[float] = []
    f: list[float] = []
    busy = 0.0
    print(
        f"# {args.sequence} ({len(images)} frames) played back and forth to {args.frames} "
        f"frames at {w}×{h}, engine short side {short}, {args.threads} threads, "
        f"{platform.machine()}, load average {', '.join(f'{x:.1f}' for x in _load())}",
        flush=True,
    )
    for t, index in enumerate(order):
        start = time.perf_counter()
        result = tracker.step(t, images[index], annotation=gts[index] if t == 0 else None)
        mask = result.mask
        busy += time.perf_counter() - start
        if 0 < t < args.frames - 1 and t % args.score_every == 0:
            gt = gts[index]
            void = gt == 255
            j.append(jaccard(gt == 1, mask == 1, void))
            f.append(f_measure(gt == 1, mask == 1, void))
        if (t + 1) % args.report_every == 0:
            print(
                json.dumps({"frames": t + 1, "fps": round((t + 1) / busy, 2), **figures(j, f)}),
                flush=True,
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "sequence": args.sequence,
                "frames": args.frames,
                "size": f"{w}x{h}",
                "scored_frames": len(j),
                **figures(j, f),
                "frames_per_s": round(args.frames / busy, 2),
                "peak_rss_mib": round(peak, 1),
                "rss_before_propagation_mib": round(rss_before, 1),
                "memory_elements": tracker.memory.size,
                "load_average": [round(x, 1) for x in _load()],
            }
        ),
        flush=True,
    )


def _load() -> tuple[float, ...]:
    import os

    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),)


if __name__ == "__main__":
    main()
