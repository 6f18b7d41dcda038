"""Train the objectness of object discovery on DAVIS-layout data.

Every ``--step``-th frame of every sequence of the given roots: its stride-8
EfficientNet-Lite0 features (as discovery computes them) and its ground-truth foreground
(every object together) on the same grid; a class-balanced logistic regression learns
which features belong to objects.

    python benchmarks/train_objectness.py [--data ../shared/data]
        [--roots davis2016-train,multiobject] [--out src/vosam/discover/objectness.npz]
        [--folds K --folds-out DIR]

With ``--folds K`` the sequences of the first root are split into K folds (sorted names,
fold k = every K-th name from the k-th) and K more weight files are written to
``DIR/fold<k>.npz``, each trained on every sequence but fold k's; ``bench_uvos.py
--objectness-folds DIR`` scores each sequence with the file that did not see it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vosam.datasets.davis import find_davis_sequences
from vosam.discover.objectness import WEIGHTS, Objectness, mask_to_grid
from vosam.discover.saliency import AppearanceFeatures
from vosam.io import FolderSource, read_mask

REPO = Path(__file__).resolve().parents[1]


def sequence_samples(
    seq, appearance: AppearanceFeatures, step: int
) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    """Features and grid foreground of every ``step``-th annotated frame of ``seq``."""
    source = FolderSource(seq.frames)
    input_size = appearance.extractor.input_size(source.size)
    masks = {p.stem: p for p in seq.annotations.glob("*.png")}
    feats, grids = [], []
    for index, image in source.frames():
        name = source.names[index]
        if index % step or name not in masks:
            continue
        dense = appearance.dense(image)
        feats.append(dense)
        grids.append(mask_to_grid(read_mask(masks[name]), input_size, tuple(dense.shape[1:])))
    return feats, grids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--roots", default="davis2016-train,multiobject")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--step", type=int, default=2, help="every N-th frame (default 2)")
    parser.add_argument("--short-side", type=int, default=240)
    parser.add_argument("--folds", type=int, default=0)
    parser.add_argument("--folds-out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    appearance = AppearanceFeatures("cpu", args.short_side)
    samples: dict[str, tuple[list[torch.Tensor], list[np.ndarray]]] = {}
    roots = args.roots.split(",")
    first_root: list[str] = []
    for k, root in enumerate(roots):
        for seq in find_davis_sequences(args.data / root):
            start = time.perf_counter()
            samples[seq.name] = sequence_samples(seq, appearance, args.step)
            if k == 0:
                first_root.append(seq.name)
            print(
                f"{seq.name:18s} {len(samples[seq.name][0]):3d} frames "
                f"{time.perf_counter() - start:5.1f} s",
                flush=True,
            )

    def train(names: list[str]) -> Objectness:
        feats = [f for n in names for f in samples[n][0]]
        grids = [g for n in names for g in samples[n][1]]
        return Objectness.fit(feats, grids, short_side=args.short_side, trained_on=names)

    everything = sorted(samples)
    train(everything).save(args.out)
    print(f"{args.out}: trained on {len(everything)} sequences")
    if args.folds:
        if args.folds_out is None:
            parser.error("--folds needs --folds-out")
        args.folds_out.mkdir(parents=True, exist_ok=True)
        ordered = sorted(first_root)
        for k in range(args.folds):
            held_out = set(ordered[k :: args.folds])
            path = args.folds_out / f"fold{k}.npz"
            train([n for n in everything if n not in held_out]).save(path)
            print(f"{path}: holds out {', '.join(sorted(held_out))}")


if __name__ == "__main__":
    main()
