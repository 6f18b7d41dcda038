"""Train the embedded refiner's network on davis2016-train; measure it on held-out sequences.

Three steps, each a sub-command:

``cache``  propagates every sequence with the embedded engine from its first annotation (no
           refinement) and keeps the engine's object probabilities, uint8, one ``.npz`` per
           sequence: the realistic coarse masks the network learns to correct.
``train``  fits :class:`~vosam.refine.embedded.refine_net.RefineNet` on pairs (coarse mask →
           ground truth) at a quarter of the resolution: the engine's masks, plus synthetic
           degradations of the ground truth (down/up-sampling at stride 8–16, erosion and
           dilation, boundary jitter, blobs added and cut). One thread, fixed seed.
``eval``   refines the engine's masks of the given sequences with the embedded segmenter,
           with and without the network, and prints J and F before and after.

The protocol of the shipped weights: the engine's masks of the first 50 frames of each
sequence; a 2-fold split of the 20 sequences (``--fold 0/1``: train on one half, ``eval`` on
the other, both ways); then ``--fold all`` trains on all 20 with the same settings (1,000
steps of 16 crops, seed 0: about 20 minutes on one busy core).

    python benchmarks/train_embedded_refiner.py cache --cache /tmp/refiner-cache --frames 50
    python benchmarks/train_embedded_refiner.py train --cache /tmp/refiner-cache --fold 0 \
        --out /tmp/fold0.npz
    python benchmarks/train_embedded_refiner.py eval --cache /tmp/refiner-cache --fold 0 \
        --weights /tmp/fold0.npz
    python benchmarks/train_embedded_refiner.py train --cache /tmp/refiner-cache --fold all \
        --out src/vosam/refine/embedded/refine_net.npz
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vosam.datasets.davis import find_davis_sequences
from vosam.io import FolderSource, read_mask

REPO = Path(__file__).resolve().parents[1]
SEQUENCES = [
    *("bmx-bumps", "boat", "bus", "dance-jump", "dog-agility", "drift-turn", "flamingo"),
    *("hockey", "kite-walk", "mallard-fly", "motocross-bumps", "motorbike", "paragliding"),
    *("rollerblade", "scooter-gray", "soccerball", "stroller", "surf", "swing", "tennis"),
]
FOLDS = (SEQUENCES[0::2], SEQUENCES[1::2])
"""The 2-fold split: alternate sequences in name order."""


def fold_sequences(fold: str, *, held_out: bool) -> list[str]:
    """Training (or, with ``held_out``, evaluation) sequences of fold ``0``, ``1`` or ``all``."""
    if fold == "all":
        return list(SEQUENCES)
    k = int(fold)
    return list(FOLDS[1 - k] if held_out else FOLDS[k])


# -- cache -----------------------------------------------------------------------------------


def cache(args: argparse.Namespace) -> None:
    from vosam.engines.embedded import EmbeddedPropagator
    from vosam.session import Session

    args.cache.mkdir(parents=True, exist_ok=True)
    names = args.sequences.split(",") if args.sequences else SEQUENCES
    sequences = find_davis_sequences(args.data / "davis2016-train", names=names)
    engine = EmbeddedPropagator(device="cpu")
    for seq in sequences:
        path = args.cache / f"{seq.name}.npz"
        if path.exists():
            continue
        start = time.perf_counter()
        source = FolderSource(seq.frames)
        session = Session(source, propagator=engine)
        first = seq.first_annotation()
        session.add_annotation(source.names.index(first.stem), read_mask(first))
        probs = [
            np.round(255 * result.probs[1]).astype(np.uint8)
            for _, result in session.propagate(stop=min(len(source), args.frames or len(source)))
        ]
        np.savez_compressed(path, names=np.array(source.names), probs=np.stack(probs))
        took = time.perf_counter() - start
        print(f"{seq.name:18s} {len(probs):3d} frames {took / len(probs):.2f} s/frame", flush=True)


# -- training pairs --------------------------------------------------------------------------


def load_frames(data: Path, cache_dir: Path, names: list[str]) -> list[tuple[np.ndarray, ...]]:
    """Per frame (the first, annotated, left out): image ``(3, h, w)`` normalised, ground truth
    and engine probability ``(h, w)``, all at the network's resolution."""
    from vosam.refine.embedded.refine_net import net_inputs

    frames = []
    for seq in find_davis_sequences(data / "davis2016-train", names=names):
        with np.load(cache_dir / f"{seq.name}.npz") as cached:
            probs, frame_names = cached["probs"], cached["names"]
        for name, prob in zip(frame_names[1 : len(probs)], probs[1:], strict=True):
            image = cv2.imread(str(seq.frames / f"{name}.jpg"))[..., ::-1]
            gt = (read_mask(seq.annotations / f"{name}.png") > 0).astype(np.float32)
            x, gt4 = net_inputs(image, gt)
            _, eng4 = net_inputs(image, prob.astype(np.float32) / 255)
            frames.append((x, gt4, eng4))
    return frames


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise ``shape`` in [-1, 1]: random values on a coarse grid, bicubic up."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(coarse, shape[::-1], interpolation=cv2.INTER_CUBIC)


def degrade(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic coarse probability from the ground truth ``gt (h, w)`` at ¼ resolution."""
    h, w = gt.shape
    kind = rng.integers(5)
    binary = (gt > 0.5).astype(np.uint8)
    if kind == 0:  # down/up-sampling at stride 8–16 of the full image
        f = int(rng.integers(2, 5))
        small = cv2.resize(gt, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    elif kind == 1:  # erosion or dilation
        r = int(rng.integers(1, 4))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        op = cv2.erode if rng.random() < 0.5 else cv2.dilate
        out = op(binary, kernel).astype(np.float32)
    elif kind == 2:  # boundary jitter: a smooth random displacement
        amp = rng.uniform(1.0, 3.0)
        dx = amp * _smooth_noise(rng, (h, w), 4)
        dy = amp * _smooth_noise(rng, (h, w), 4)
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        out = cv2.remap(gt, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    elif kind == 3:  # blobs added and cut near the boundary
        out = binary.copy()
        edge = np.argwhere(cv2.morphologyEx(binary, cv2.MORPH_GRADIENT, np.ones((3, 3))) > 0)
        for _ in range(int(rng.integers(1, 4))):
            if len(edge):
                cy, cx = edge[rng.integers(len(edge))]
            else:
                cy, cx = rng.integers(h), rng.integers(w)
            axes = (int(rng.integers(2, 8)), int(rng.integers(2, 8)))
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(out, (int(cx), int(cy)), axes, angle, 0, 360, int(rng.random() < 0.5), -1)
        out = out.astype(np.float32)
    else:  # the ground truth itself, so that a right mask is left alone
        out = gt.copy()
    sigma = rng.uniform(0.3, 1.5)
    out = cv2.GaussianBlur(out.astype(np.float32), (0, 0), sigma)
    return np.clip(out, 0.0, 1.0)


def sample_batch(
    frames: list[tuple[np.ndarray, ...]], rng: np.random.Generator, *, size: int, count: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` crops of ``size``: images, coarse probabilities and targets (half from the
    engine, half synthetic); crops are centred near a boundary four times out of five."""
    xs, ps, ts = [], [], []
    for _ in range(count):
        x, gt, eng = frames[rng.integers(len(frames))]
        h, w = gt.shape
        engine = rng.random() < 0.5
        coarse = eng if engine else gt
        band = np.abs(gt - 0.5) < 0.5
        band |= np.abs(coarse - 0.5) < 0.45
        spots = np.argwhere(band)
        if len(spots) and rng.random() < 0.8:
            cy, cx = spots[rng.integers(len(spots))]
        else:
            cy, cx = rng.integers(h), rng.integers(w)
        y0 = int(np.clip(cy - size // 2, 0, max(0, h - size)))
        x0 = int(np.clip(cx - size // 2, 0, max(0, w - size)))
        sl = (slice(y0, y0 + size), slice(x0, x0 + size))
        target = gt[sl]
        p = eng[sl] if engine else degrade(target, rng)
        image = x[:, sl[0], sl[1]]
        # colour jitter: the network should follow edges, not learn the sequences' colours
        gain = rng.uniform(0.7, 1.3, (3, 1, 1)).astype(np.float32)
        image = image * gain + rng.uniform(-0.3, 0.3, (3, 1, 1)).astype(np.float32)
        if rng.random() < 0.25:
            image = image[rng.permutation(3)]
        if rng.random() < 0.5:
            image, p, target = image[:, :, ::-1], p[:, ::-1], target[:, ::-1]
        xs.append(np.ascontiguousarray(image))
        ps.append(np.ascontiguousarray(p))
        ts.append(np.ascontiguousarray(target))
    return (
        torch.from_numpy(np.stack(xs)),
        torch.from_numpy(np.stack(ps))[:, None],
        torch.from_numpy(np.stack(ts))[:, None],
    )


def train(args: argparse.Namespace) -> None:
    from vosam.refine.embedded.refine_net import RefineNet

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    names = (
        args.sequences.split(",") if args.sequences else fold_sequences(args.fold, held_out=False)
    )
    start = time.perf_counter()
    frames = load_frames(args.data, args.cache, names)
    print(
        f"fold {args.fold}: {len(frames)} frames of {len(names)} sequences "
        f"({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    net = RefineNet(width=args.width)
    print(f"{sum(p.numel() for p in net.parameters())} parameters", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    start, running = time.perf_counter(), 0.0
    for step in range(1, args.steps + 1):
        x, p, t = sample_batch(frames, rng, size=args.crop, count=args.batch)
        logits = net(x, p)
        # plain cross-entropy: weights that depend on the target would bias the answer
        loss = F.binary_cross_entropy_with_logits(logits, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if step % 100 == 0:
            print(
                f"step {step:5d} loss {running / 100:.4f} {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            running = 0.0
    net.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)", flush=True)


# -- evaluation ------------------------------------------------------------------------------


def evaluate(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from vosam.eval.metrics import f_measure, jaccard
    from vosam.refine import Prompt
    from vosam.refine.embedded import EmbeddedSegmenterConfig
    from vosam.refine.embedded.segmenter import EmbeddedSegmenter
    from vosam.refine.prompts import build_prompts

    base = EmbeddedSegmenterConfig(net=False)
    segmenters = {"without network": EmbeddedSegmenter(base)}
    for weights in args.weights:
        cfg = replace(base, net=True, net_weights=str(weights))
        segmenters[f"network {weights.name}"] = EmbeddedSegmenter(cfg)
    names = (
        args.sequences.split(",") if args.sequences else fold_sequences(args.fold, held_out=True)
    )
    print(f"held-out sequences: {','.join(names)}; every {args.step}th frame", flush=True)
    rows: dict[str, list[tuple[float, float]]] = {}
    scores: dict[str, list[tuple[float, float]]] = {}
    seconds: dict[str, list[float]] = {}

    def add(key: str, gt: np.ndarray, mask: np.ndarray) -> None:
        rows.setdefault(key, []).append((jaccard(gt, mask), f_measure(gt, mask)))

    first_seg = next(iter(segmenters.values()))
    for seq in find_davis_sequences(args.data / "davis2016-train", names=names):
        with np.load(args.cache / f"{seq.name}.npz") as cached:
            probs, frame_names = cached["probs"], cached["names"]
        for k in range(1, len(probs), args.step):
            name = str(frame_names[k])
            image = cv2.imread(str(seq.frames / f"{name}.jpg"))[..., ::-1].copy()
            gt = read_mask(seq.annotations / f"{name}.png") > 0
            prob = probs[k].astype(np.float32) / 255
            before = prob > 0.5
            add("engine", gt, before)
            if not before.any():
                continue
            emb = first_seg.embed(image)
            refiner_prompt = build_prompts({1: prob}, {1: before}, mode=args.mode, points="CP")
            prompts = {"mask": Prompt(mask=prob), args.mode: refiner_prompt[1]}
            for label, seg in segmenters.items():
                for kind, prompt in prompts.items():
                    start = time.perf_counter()
                    pred = seg.predict(emb, prompt)
                    seconds.setdefault(label, []).append(time.perf_counter() - start)
                    add(f"{label}, {kind}", gt, pred.mask)
                    scores.setdefault(f"{label}, {kind}", []).append(
                        (pred.score, jaccard(gt, pred.mask))
                    )
                    gated = pred.mask if pred.score >= args.gate else before
                    add(f"{label}, {kind}, gate {args.gate}", gt, gated)
        print(f"{seq.name:18s} done", flush=True)
    print(f"\n{'setting':52s} {'J':>6s} {'F':>6s} {'J&F':>6s}    n")
    for key, values in rows.items():
        j, f = np.mean(values, axis=0)
        print(f"{key:52s} {j:6.3f} {f:6.3f} {(j + f) / 2:6.3f} {len(values):4d}")
    print()
    for key, values in scores.items():
        q = np.array(values)
        corr = float(np.corrcoef(q[:, 0], q[:, 1])[0, 1])
        passed = q[:, 0] >= args.gate
        print(
            f"{key:52s} score vs J: correlation {corr:.3f}; {passed.mean():.0%} pass the "
            f"gate, mean J {q[passed, 1].mean() if passed.any() else float('nan'):.3f} "
            f"above it, {q[~passed, 1].mean() if (~passed).any() else float('nan'):.3f} below"
        )
    for label, values in seconds.items():
        print(f"{label}: predict {1000 * np.median(values):.0f} ms per prompt (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_cache = sub.add_parser("cache", help="the engine's masks of every sequence")
    p_cache.add_argument("--sequences", help="comma-separated names (default: all 20)")
    p_cache.add_argument("--frames", type=int, default=0, help="only the first n (0: all)")
    p_train = sub.add_parser("train", help="fit the network on one fold or all sequences")
    p_train.add_argument("--fold", choices=("0", "1", "all"), default="all")
    p_train.add_argument("--out", type=Path, required=True)
    p_train.add_argument("--sequences", help="names (default: the fold's)")
    p_train.add_argument("--steps", type=int, default=1000)
    p_train.add_argument("--batch", type=int, default=16)
    p_train.add_argument("--crop", type=int, default=64, help="crop side at ¼ resolution")
    p_train.add_argument("--width", type=int, default=16)
    p_train.add_argument("--lr", type=float, default=3e-3)
    p_train.add_argument("--seed", type=int, default=0)
    p_eval = sub.add_parser("eval", help="J and F of refined engine masks, held-out sequences")
    p_eval.add_argument("--fold", choices=("0", "1"), default="0")
    p_eval.add_argument(
        "--sequences", help="comma-separated names (default: the fold's other half)"
    )
    p_eval.add_argument("--weights", type=Path, nargs="*", default=[])
    p_eval.add_argument("--step", type=int, default=5, help="every n-th frame")
    p_eval.add_argument("--mode", default="mask_bbox_pos_neg", help="the refiner's prompt mode")
    p_eval.add_argument("--gate", type=float, default=0.6)
    for p in (p_cache, p_train, p_eval):
        p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
        p.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, 1 thread", flush=True)
    {"cache": cache, "train": train, "eval": evaluate}[args.command](args)


if __name__ == "__main__":
    main()
