"""Frames per second of vosam's XMem engine (full XMem architecture, random weights).

Propagates a synthetic 854×480 video (textured background, moving objects; the first frame
annotated) through the XMem engine with XMem's published settings (shorter side 480,
memory every 5 frames, top-k 30, long-term memory on; float16 autocast on CUDA), and prints
frames per second over the propagated frames together with the hardware. Random weights
run exactly the same operations as a trained checkpoint; pass ``--checkpoint`` to time a
real one.

Usage::

    python benchmarks/bench_xmem.py [--device cpu|cuda] [--frames 30] [--objects 2]
        [--checkpoint XMem.pth] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from vosam.engines.xmem import XMemConfig, XMemNetwork, XMemPropagator, build_xmem


def synthetic_video(n: int, objects: int, h: int = 480, w: int = 854):
    """``n`` RGB frames ``(h, w, 3)`` and the first frame's mask with ``objects`` ids."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    background = np.kron(background, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]
    frames = []
    mask = np.zeros((h, w), dtype=np.uint8)
    for t in range(n):
        frame = background.copy()
        for k in range(objects):
            y, x = 60 + 120 * k, 40 + 6 * t + 150 * k
            frame[y : y + 100, x : x + 120] = (40 + 60 * k, 200, 255 - 50 * k)
            if t == 0:
                mask[y : y + 100, x : x + 120] = k + 1
        frames.append(frame)
    return frames, mask


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--frames", type=int, default=30, help="propagated frames timed")
    parser.add_argument("--warmup", type=int, default=3, help="propagated frames not timed")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--checkpoint", help="an XMem .pth file (default: random weights)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = XMemConfig()
    if args.checkpoint:
        prop = build_xmem(args.checkpoint, device=args.device, config=config)
        weights = args.checkpoint
    else:
        torch.manual_seed(0)
        prop = XMemPropagator(XMemNetwork(), config=config, device=args.device)
        weights = "random weights"
    frames, mask = synthetic_video(1 + args.warmup + args.frames, args.objects)
    tracker = prop.new_tracker()
    tracker.step(0, frames[0], annotation=mask)
    for t in range(1, 1 + args.warmup):
        tracker.step(t, frames[t])
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for t in range(1 + args.warmup, len(frames)):
        tracker.step(t, frames[t])
    sync()
    elapsed = time.perf_counter() - start
    fps = args.frames / elapsed

    if args.device == "cuda":
        hardware = f"{torch.cuda.get_device_name()} (float16 autocast)"
    else:
        hardware = f"{cpu_name()}, {torch.get_num_threads()} torch threads"
    print(
        f"XMem architecture ({weights}), 854×480 input at shorter side 480, "
        f"{args.objects} objects, {args.frames} propagated frames"
    )
    print(f"device: {args.device}: {hardware}; torch {torch.__version__}")
    print(
        f"{fps:.2f} frames/s ({1000 / fps:.0f} ms/frame, steps returning float32 probabilities "
        "at frame resolution)"
    )


if __name__ == "__main__":
    main()
