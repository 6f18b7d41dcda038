"""Frames per second of vosam's Cutie engine (base and small) against XMem, in one run.

Propagates the synthetic 854×480 video of ``bench_xmem.py`` (textured background, moving
objects; the first frame annotated) through Cutie base, Cutie small and XMem, each with
random weights of its full architecture and its published settings (Cutie: memory every 5
frames, 5 memory frames, top-k 30, no long-term memory, frames of 480p kept as they are;
XMem: shorter side 480, memory every 5 frames, top-k 30, long-term memory). The engines
step frame by frame in turn, so that a change of the machine's load falls on all of them
alike; each one's time covers only its own steps. Prints frames per second over the
propagated frames, the hardware and the load average before and after. Random weights run
exactly the same operations as trained checkpoints (say nothing about accuracy).

Usage::

    nice -n 15 python benchmarks/bench_cutie.py [--device cpu|cuda] [--frames 20]
        [--objects 2] [--threads N] [--engines cutie-base,cutie-small,xmem]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from bench_xmem import cpu_name, synthetic_video

from vosam.engines.cutie import CutieArch, CutieConfig, CutieNetwork, CutiePropagator
from vosam.engines.xmem import XMemConfig, XMemNetwork, XMemPropagator


def build(name: str, device: str):
    torch.manual_seed(0)
    if name == "xmem":
        return XMemPropagator(XMemNetwork(), config=XMemConfig(), device=device)
    arch = CutieArch.base() if name == "cutie-base" else CutieArch.small()
    return CutiePropagator(CutieNetwork(arch), config=CutieConfig(), device=device)


def load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--frames", type=int, default=20, help="propagated frames timed")
    parser.add_argument("--warmup", type=int, default=2, help="propagated frames not timed")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--engines", default="cutie-base,cutie-small,xmem")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.engines.split(",")
    engines = {name: build(name, args.device) for name in names}
    frames, mask = synthetic_video(1 + args.warmup + args.frames, args.objects)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    before = load()
    trackers = {name: engine.new_tracker() for name, engine in engines.items()}
    spent = dict.fromkeys(names, 0.0)
    for t, frame in enumerate(frames):
        for name, tracker in trackers.items():
            sync()
            start = time.perf_counter()
            tracker.step(t, frame, annotation=mask if t == 0 else None)
            sync()
            if t > args.warmup:
                spent[name] += time.perf_counter() - start
        print(f"frame {t + 1}/{len(frames)}", end="\r", flush=True)
    print()
    after = load()

    if args.device == "cuda":
        hardware = torch.cuda.get_device_name()
    else:
        hardware = f"{cpu_name()}, {torch.get_num_threads()} torch threads"
    print(
        f"854×480 synthetic video, {args.objects} objects, random weights, "
        f"{args.frames} propagated frames timed after {args.warmup}, engines stepping in turn"
    )
    print(f"device: {args.device}: {hardware}; torch {torch.__version__}")
    print(f"load average (1/5/15 min) before: {before}; after: {after}")
    for name in names:
        fps = args.frames / spent[name]
        print(f"{name:12s} {fps:6.3f} frames/s ({1000 / fps:6.0f} ms/frame)")


if __name__ == "__main__":
    main()
