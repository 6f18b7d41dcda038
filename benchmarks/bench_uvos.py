"""Unsupervised VOS (object discovery) on DAVIS-2016 train: J&F and seconds per frame.

No annotation is used: objects are discovered from motion and appearance, linked into box
trajectories, segmented (with the discovered foreground snapped to image edges, or a
promptable segmenter with ``--refiner``), optionally with the embedded propagator filling
gaps (``--propagate``) or giving every frame's mask (``--propagate-all``); then the DAVIS
unsupervised protocol (Hungarian matching of up to 20 predicted objects to the
ground truth) scores them.

    python benchmarks/bench_uvos.py [--data ../shared/data] [--sequences a,b] [--refiner NAME]
        [--propagate | --propagate-all] [--no-snap] [--appearance objectness|border]
        [--objectness-folds DIR] [--out DIR] [--json FILE]

The shipped objectness was trained on these very sequences: for a fair figure give
``--objectness-folds DIR`` (written by ``train_objectness.py --folds K --folds-out DIR``),
and each sequence is scored with the weights of the fold that held it out.

Prints one line per sequence (J&F, frames, seconds per frame) and the dataset summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from vosam.datasets.davis import find_davis_sequences
from vosam.discover import DiscoverConfig, discover_objects, segment_trajectories
from vosam.discover.objectness import Objectness
from vosam.discover.saliency import AppearanceFeatures
from vosam.discover.snap import SnapConfig
from vosam.engines.embedded import EmbeddedConfig, EmbeddedPropagator
from vosam.eval import evaluate_dataset
from vosam.io import FolderSource, write_mask

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sequences", help="comma-separated names (default: all 20)")
    parser.add_argument("--refiner", help="promptable segmenter for the boxes (default: none)")
    parser.add_argument(
        "--propagate", action="store_true", help="propagate from keyframes to fill gaps"
    )
    parser.add_argument(
        "--propagate-all",
        action="store_true",
        help="every frame's mask from the propagator (segment-then-propagate)",
    )
    parser.add_argument(
        "--no-snap", action="store_true", help="coarse masks, not snapped to image edges"
    )
    parser.add_argument("--appearance", choices=("objectness", "border"), default="objectness")
    parser.add_argument(
        "--objectness-folds",
        type=Path,
        metavar="DIR",
        help="fold<k>.npz weights: each sequence uses the one that did not train on it",
    )
    parser.add_argument("--max-objects", type=int, default=3)
    parser.add_argument(
        "--short-side", type=int, default=480, help="propagator's input short side (default 480)"
    )
    parser.add_argument("--out", type=Path, help="keep the predicted masks here")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = args.data / "davis2016-train"
    names = args.sequences.split(",") if args.sequences else None
    sequences = find_davis_sequences(root, names=names)
    out = args.out or Path(tempfile.mkdtemp(prefix="vosam-uvos-"))
    held_out = {}
    if args.objectness_folds:
        for path in sorted(args.objectness_folds.glob("fold*.npz")):
            seen = set(Objectness.load(path).trained_on)
            held_out.update({s.name: str(path) for s in sequences if s.name not in seen})
        missing = [s.name for s in sequences if s.name not in held_out]
        if missing:
            parser.error(f"no fold in {args.objectness_folds} holds out {', '.join(missing)}")
    elif args.appearance == "objectness":
        seen = set(Objectness.load().trained_on) & {s.name for s in sequences}
        if seen:
            print(
                f"warning: the shipped objectness was trained on {len(seen)} of these "
                "sequences; use --objectness-folds for a fair figure"
            )
    config = DiscoverConfig(
        appearance=args.appearance,
        max_objects=args.max_objects,
        propagate=args.propagate or args.propagate_all,
        propagate_all=args.propagate_all,
        snap=None if args.no_snap else SnapConfig(),
    )
    propagator = EmbeddedPropagator(EmbeddedConfig(short_side=args.short_side), device="cpu")
    appearance = AppearanceFeatures("cpu", config.feature_short_side)
    segmenter = None
    if args.refiner:
        from vosam.refine import build_segmenter

        segmenter = build_segmenter(args.refiner, device="cpu")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; refiner {args.refiner or 'none'}, "
        f"propagation {f'at short side {args.short_side}' if config.propagate else 'off'}"
        f"{' on every frame' if config.propagate_all else ''}, "
        f"snapping {'off' if config.snap is None else 'on'}, appearance {args.appearance}"
        f"{' (held-out folds)' if held_out else ''}"
    )
    total_frames, total_time = 0, 0.0
    for seq in sequences:
        start = time.perf_counter()
        source = FolderSource(seq.frames)
        seq_config = config
        if seq.name in held_out:
            seq_config = dataclasses.replace(config, objectness_weights=held_out[seq.name])
        found = discover_objects(source, config=seq_config, appearance=appearance)
        (out / seq.name).mkdir(parents=True, exist_ok=True)
        masks = segment_trajectories(
            source,
            found.trajectories,
            segmenter=segmenter,
            propagator=propagator,
            discovery=found,
            config=config,
        )
        for index, mask in masks:
            write_mask(out / seq.name / f"{source.names[index]}.png", mask)
        elapsed = time.perf_counter() - start
        total_frames += len(source)
        total_time += elapsed
        print(
            f"{seq.name:18s} {len(source):4d} frames  {elapsed / len(source):5.2f} s/frame  "
            f"{len(found.trajectories)} objects",
            flush=True,
        )
    result = evaluate_dataset(
        root, out, sequences=[s.name for s in sequences], protocol="unsupervised", workers=1
    )
    figures = {
        **result.summary,
        "sequences": len(sequences),
        "frames": total_frames,
        "seconds_per_frame": total_time / total_frames,
    }
    for seq in result.sequences:
        jf = sum((o.j_stats.mean + o.f_stats.mean) / 2 for o in seq.objects) / len(seq.objects)
        print(f"{seq.name:18s} J&F {jf:.3f}")
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
