"""Frames per second of vosam's SAM 2 engine (SAM 2.1 hiera-tiny, random weights, 1024).

Propagates a synthetic 854×480 video (textured background, moving objects, the first frame
annotated) through the SAM 2 engine and prints frames per second over the propagated frames,
the memory the tracker holds, and the hardware. The model is SAM 2.1 hiera-tiny built by the
official ``sam2`` builder from its config with random weights at the official image size
(1024): the same operations as the trained checkpoint. ``--checkpoint`` times a real one.
``--compare-predictor`` also times SAM 2's own ``SAM2VideoPredictor`` on the same model and
the same (JPEG) frames in the same run, as the baseline.

Usage::

    python benchmarks/bench_sam2.py [--device cpu|cuda] [--frames 5] [--objects 2]
        [--checkpoint sam2.1_hiera_tiny.pt] [--model-config configs/sam2.1/...]
        [--image-size 1024] [--threads N] [--compare-predictor]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vosam.engines.sam2.build import build_model
from vosam.engines.sam2.config import SAM2Config
from vosam.engines.sam2.propagator import SAM2Propagator, build_sam2_engine

TINY = "configs/sam2.1/sam2.1_hiera_t.yaml"


def moving_boxes(n: int, objects: int, h: int = 480, w: int = 854):
    """``n`` RGB frames ``(h, w, 3)`` and the first frame's mask with ids ``1..objects``."""
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 255, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    background = np.kron(cells, np.ones((8, 8, 1), np.uint8))[:h, :w]
    frames, first = [], np.zeros((h, w), np.uint8)
    for t in range(n):
        frame = background.copy()
        for k in range(objects):
            y, x = 50 + 130 * k, 30 + 5 * t + 160 * k
            frame[y : y + 110, x : x + 130] = (60 * k + 30, 210, 240 - 60 * k)
            if t == 0:
                first[y : y + 110, x : x + 130] = k + 1
        frames.append(frame)
    return frames, first


def processor() -> str:
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
    parser.add_argument("--frames", type=int, default=5, help="propagated frames timed")
    parser.add_argument("--warmup", type=int, default=1, help="propagated frames not timed")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--checkpoint", help="an official SAM 2 .pt (default: random weights)")
    parser.add_argument("--model-config", default=None, help=f"default: {TINY}")
    parser.add_argument("--image-size", type=int, default=1024, help="random weights only")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--compare-predictor", action="store_true", help="also time sam2's SAM2VideoPredictor"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.checkpoint:
        engine = build_sam2_engine(
            args.checkpoint, device=args.device, model_config=args.model_config
        )
        weights, size = args.checkpoint, engine.image_size
    else:
        torch.manual_seed(0)
        config = args.model_config or TINY
        overrides = [f"++model.image_size={args.image_size}"]
        model = build_model(config, overrides=overrides, device="cpu")
        engine = SAM2Propagator(model, config=SAM2Config(), device=args.device)
        weights, size = f"{config}, random weights", args.image_size

    frames, first = moving_boxes(1 + args.warmup + args.frames, args.objects)
    folder = Path(tempfile.mkdtemp(prefix="bench_sam2_"))
    for t, frame in enumerate(frames):  # the predictor reads JPEG folders; both get the same
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=95)
    frames = [np.asarray(Image.open(folder / f"{t:05d}.jpg")) for t in range(len(frames))]
    tracker = engine.new_tracker(num_frames=len(frames))
    tracker.add_permanent(0, frames[0], first)
    tracker.step(0, frames[0], annotation=first)
    for t in range(1, 1 + args.warmup):
        tracker.step(t, frames[t])
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for t in range(1 + args.warmup, len(frames)):
        tracker.step(t, frames[t])
    sync()
    fps = args.frames / (time.perf_counter() - start)
    baseline = predictor_fps(engine.model, folder, first, args) if args.compare_predictor else None

    if args.device == "cuda":
        hardware = f"{torch.cuda.get_device_name()} (bfloat16 autocast)"
    else:
        hardware = f"{processor()}, {torch.get_num_threads()} torch threads"
    print(
        f"SAM 2 engine ({weights}), image size {size}, 854×480 frames, {args.objects} objects, "
        f"{args.frames} propagated frames after {args.warmup} warm-up"
    )
    print(f"device: {args.device}: {hardware}; torch {torch.__version__}")
    print(
        f"{fps:.3f} frames/s ({1000 / fps:.0f} ms/frame, steps returning float32 "
        "probabilities at frame resolution)"
    )
    print(f"tracker memory: {tracker.stored_bytes() / 2**20:.1f} MiB")
    if baseline is not None:
        print(
            f"sam2 SAM2VideoPredictor, same model and frames, same run: {baseline:.3f} frames/s "
            f"({1000 / baseline:.0f} ms/frame, whole video loaded first)"
        )


def predictor_fps(model: torch.nn.Module, folder: Path, first: np.ndarray, args) -> float:
    """Frames/s of sam2's own video predictor over the same propagated frames."""
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if args.device == "cuda"
        else torch.autocast("cpu", enabled=False)
    )
    with torch.inference_mode(), autocast:
        state = model.init_state(str(folder))
        for k in range(1, args.objects + 1):
            model.add_new_mask(state, 0, k, first == k)
        start = None
        for index, _, masks in model.propagate_in_video(state):
            masks.float().cpu()
            if index == args.warmup:
                sync()
                start = time.perf_counter()
        sync()
    return args.frames / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
