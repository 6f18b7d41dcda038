"""Embedded promptable segmenter on DAVIS-2016 train: refinement of coarse masks, box and click.

For every ``--step``-th frame of each sequence, three kinds of coarse mask are refined with a
mask and a mask + box prompt and scored (J, F) against the ground truth before and after:

* ``gt/8`` and ``gt/16``: the ground truth area-downsampled to stride 8 or 16 and upsampled
  bilinearly (a mask right in the large, wrong at the boundary);
* ``propagated``: the embedded engine's probabilities, propagated from the first annotation
  over the first ``--propagate`` frames (skipped with ``--propagate 0``).

Box-only and single-click prompts (the box of the ground truth; a click at the point of the
object farthest from its boundary) are scored by J against the ground truth. Times are per
image (embed) and per prompt (predict), on one thread.

With ``--compare-no-net`` the mask prompts are also refined without the trained refinement
network, on the same embeddings, in rows marked ``(no net)``; ``--net-weights`` replaces the
shipped weights (a model trained on the other half of davis2016-train measures held out).

    python benchmarks/bench_embedded_segmenter.py [--data ../shared/data] [--sequences a,b]
        [--step 10] [--frames N] [--propagate 30] [--compare-no-net] [--net-weights PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from vosam.datasets.davis import find_davis_sequences
from vosam.engines.embedded import EmbeddedPropagator
from vosam.eval.metrics import f_measure, jaccard
from vosam.io import FolderSource, read_mask
from vosam.refine import Prompt, build_segmenter
from vosam.session import Session

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEQUENCES = "boat,bus,dog-agility,flamingo,kite-walk,motocross-bumps,soccerball,stroller"


def degraded(gt: np.ndarray, stride: int) -> np.ndarray:
    """``gt bool (H, W)`` area-downsampled by ``stride``, bilinearly upsampled: float32."""
    h, w = gt.shape
    small = cv2.resize(
        gt.astype(np.float32), (w // stride, h // stride), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def box_of(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)


def inner_point(mask: np.ndarray) -> np.ndarray:
    """The pixel of ``mask`` farthest from its boundary, ``(1, 2)`` ``(x, y)``."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return np.array([[x, y]], np.float32)


def propagated(seq, engine: EmbeddedPropagator, frames: int) -> dict[str, np.ndarray]:
    """The engine's object probability ``(H, W)`` per frame name, first ``frames`` frames."""
    source = FolderSource(seq.frames)
    session = Session(source, propagator=engine)
    first = seq.first_annotation()
    session.add_annotation(source.names.index(first.stem), read_mask(first))
    out = {}
    for index, result in session.propagate(stop=min(frames, len(source))):
        out[source.names[index]] = result.probs[1].astype(np.float32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sequences", default=DEFAULT_SEQUENCES)
    parser.add_argument("--step", type=int, default=10, help="every n-th frame")
    parser.add_argument("--frames", type=int, default=0, help="only the first n frames (0: all)")
    parser.add_argument("--propagate", type=int, default=30, help="frames to propagate")
    parser.add_argument("--compare-no-net", action="store_true", help="also without the network")
    parser.add_argument("--net-weights", help="the refinement network's weights (default: shipped)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    root = args.data / "davis2016-train"
    sequences = find_davis_sequences(root, names=args.sequences.split(","))
    seg = build_segmenter("embedded", net_weights=args.net_weights)
    plain = build_segmenter("embedded", net=False) if args.compare_no_net else None
    engine = EmbeddedPropagator(device="cpu") if args.propagate else None
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, 1 thread; load average {os.getloadavg()[0]:.1f}"
    )
    scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
    quality: list[tuple[float, float]] = []  # (predicted score, true J)
    t_embed: list[float] = []
    t_predict: list[float] = []
    for seq in sequences:
        props = propagated(seq, engine, args.propagate) if engine else {}
        names = sorted(p.stem for p in seq.annotations.glob("*.png"))
        names = names[: args.frames or None][:: args.step]
        for name in names:
            image = cv2.imread(str(seq.frames / f"{name}.jpg"))[..., ::-1].copy()
            gt = read_mask(seq.annotations / f"{name}.png") > 0
            if not gt.any():
                continue
            start = time.perf_counter()
            emb = seg.embed(image)
            t_embed.append(time.perf_counter() - start)

            def run(prompt: Prompt, emb=emb, gt=gt) -> np.ndarray:
                start = time.perf_counter()
                pred = seg.predict(emb, prompt)
                t_predict.append(time.perf_counter() - start)
                quality.append((pred.score, jaccard(gt, pred.mask)))
                return pred.mask

            coarse = {"gt/8": degraded(gt, 8), "gt/16": degraded(gt, 16)}
            if name in props:
                coarse["propagated"] = props[name]
            for kind, prob in coarse.items():
                before = prob > 0.5
                scores[f"{kind} before"].append((jaccard(gt, before), f_measure(gt, before)))
                refined = run(Prompt(mask=prob))
                scores[f"{kind} mask"].append((jaccard(gt, refined), f_measure(gt, refined)))
                # an empty coarse mask has no box: scored with the mask alone, so that every
                # row averages over the same frames
                box = box_of(before)
                refined = run(Prompt(mask=prob, box=box)) if box is not None else refined
                scores[f"{kind} mask+box"].append((jaccard(gt, refined), f_measure(gt, refined)))
                if plain is not None:
                    refined = plain.predict(emb, Prompt(mask=prob)).mask
                    scores[f"{kind} mask (no net)"].append(
                        (jaccard(gt, refined), f_measure(gt, refined))
                    )
                    if box is not None:
                        refined = plain.predict(emb, Prompt(mask=prob, box=box)).mask
                    scores[f"{kind} mask+box (no net)"].append(
                        (jaccard(gt, refined), f_measure(gt, refined))
                    )
            for kind, prompt in (
                ("box only", Prompt(box=box_of(gt))),
                ("one click", Prompt(points=inner_point(gt), labels=np.array([1], np.int32))),
            ):
                pred = run(prompt)
                scores[kind].append((jaccard(gt, pred), f_measure(gt, pred)))
        print(f"{seq.name:18s} {len(names)} frames", flush=True)
    print(f"\n{'setting':24s} {'J':>6s} {'F':>6s} {'J&F':>6s}   n")
    for key, values in scores.items():
        j, f = np.mean(values, axis=0)
        print(f"{key:24s} {j:6.3f} {f:6.3f} {(j + f) / 2:6.3f} {len(values):4d}")
    q = np.array(quality)
    corr = float(np.corrcoef(q[:, 0], q[:, 1])[0, 1]) if len(q) > 2 else float("nan")
    print(f"\npredicted score vs true J: correlation {corr:.3f} over {len(q)} predictions")
    for lo, hi in ((0.0, 0.4), (0.4, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)):
        sel = (q[:, 0] >= lo) & (q[:, 0] < hi)
        if sel.any():
            print(f"  score in [{lo:.2f}, {hi:.2f}): mean J {q[sel, 1].mean():.3f}, n {sel.sum()}")
    print(
        f"\nembed {1000 * np.median(t_embed):.0f} ms per image, "
        f"predict {1000 * np.median(t_predict):.0f} ms per prompt (medians, 854x480)"
    )


if __name__ == "__main__":
    main()
