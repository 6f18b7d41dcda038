"""Refinement of propagated masks: J&F, J/F decay and time per frame, with and without it.

The embedded engine propagates from the first annotation; the embedded segmenter refines
(or not). Configurations are ``none`` (no refinement) or ``WHEN:MODE[:POINTS][:nofb]`` with
WHEN ``every`` (VOS-E-SAM) or ``vanishing``, MODE a prompt mode, POINTS C/CP/CPS (default
CP), ``gX`` a gate of X and ``nofb`` to leave the engine's memory alone. ``default`` is
the library's default :class:`~vosam.refine.refiner.RefinerConfig`.

    python benchmarks/bench_refine.py [--data ../shared/data] [--set davis2016-train]
        [--sequences a,b] [--configs none,default,every:mask_bbox_pos_neg:CP:nofb]
        [--frames N] [--no-net | --net-weights PATH]

``--no-net`` refines without the embedded segmenter's trained network (the mask prompt's own
probabilities, edge-aware filtered); ``--net-weights`` uses other weights than the shipped
ones (e.g. a model trained on the other half of davis2016-train, to measure held out).

Prints one line per configuration and sequence, then a table per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from vosam.datasets.davis import find_davis_sequences
from vosam.engines.embedded import EmbeddedPropagator
from vosam.eval import evaluate_dataset
from vosam.io import FolderSource, read_mask, write_mask
from vosam.refine import build_segmenter
from vosam.refine.refiner import Refiner, RefinerConfig
from vosam.session import Session

REPO = Path(__file__).resolve().parents[1]


def parse_config(text: str) -> RefinerConfig | None:
    if text == "none":
        return None
    if text == "default":
        return RefinerConfig()
    parts = text.split(":")
    cfg = RefinerConfig(refine=parts[0], mode=parts[1])
    for extra in parts[2:]:
        if extra == "nofb":
            cfg = replace(cfg, feedback=False)
        elif extra.startswith("g"):
            cfg = replace(cfg, gate=float(extra[1:]))
        else:
            cfg = replace(cfg, points=extra)
    return cfg


def truncated_ground_truth(sequences: list, out: Path, frames: int) -> Path:
    """A ground-truth root under ``out`` linking the first ``frames`` masks of each sequence."""
    gt_root = out / "gt"
    for seq in sequences:
        folder = gt_root / "Annotations" / "480p" / seq.name
        folder.mkdir(parents=True, exist_ok=True)
        for png in sorted(seq.annotations.glob("*.png"))[:frames]:
            (folder / png.name).symlink_to(png.resolve())
    return gt_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--set", default="davis2016-train", help="davis2016-train or multiobject")
    parser.add_argument("--sequences", help="comma-separated names (default: all)")
    parser.add_argument("--configs", default="none,default,every:mask_bbox_pos_neg:CP:nofb")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--frames", type=int, default=0, help="only the first n frames (0: all)")
    net = parser.add_mutually_exclusive_group()
    net.add_argument("--no-net", action="store_true", help="no refinement network")
    net.add_argument("--net-weights", help="the refinement network's weights (default: shipped)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = args.data / args.set
    resolution = "480p" if (root / "JPEGImages" / "480p").is_dir() else ""
    names = args.sequences.split(",") if args.sequences else None
    sequences = find_davis_sequences(root, resolution=resolution, names=names)
    out = Path(tempfile.mkdtemp(prefix="vosam-bench-refine-"))
    engine = EmbeddedPropagator(device="cpu")
    segmenter = build_segmenter(
        "embedded", device="cpu", net=not args.no_net, net_weights=args.net_weights
    )
    net_text = "none" if args.no_net else args.net_weights or "shipped"
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, 1 torch thread; "
        f"refinement network: {net_text}"
    )
    gt_root = root if not args.frames else truncated_ground_truth(sequences, out, args.frames)
    figures = {}
    for text in args.configs.split(","):
        config = parse_config(text)
        refiner = Refiner(segmenter, config) if config else None
        frames, seconds, refined, accepted = 0, 0.0, 0, 0
        for seq in sequences:
            source = FolderSource(seq.frames)
            stop = min(len(source), args.frames or len(source))
            session = Session(source, propagator=engine, refiner=refiner)
            first = seq.first_annotation()
            session.add_annotation(source.names.index(first.stem), read_mask(first))
            folder = out / text.replace(":", "_") / seq.name
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            for index, result in session.propagate(stop=stop):
                write_mask(folder / f"{source.names[index]}.png", result.mask)
            elapsed = time.perf_counter() - start
            frames, seconds = frames + stop, seconds + elapsed
            if session.refine_state is not None:
                refined += session.refine_state.frames_refined
                accepted += session.refine_state.masks_accepted
            print(f"{text:40s} {seq.name:16s} {stop:4d} frames {elapsed / stop:6.2f} s/frame")
        res = evaluate_dataset(
            gt_root, out / text.replace(":", "_"), sequences=[s.name for s in sequences], workers=1
        )
        per_seq = {s.name: s.jf_mean for s in res.sequences}
        figures[text] = {
            **res.summary,
            "s_per_frame": seconds / frames,
            "frames_refined": refined,
            "masks_accepted": accepted,
            "sequences": per_seq,
        }
        print(
            f"== {text}: J&F {res.summary['J&F-Mean']:.4f}  J-decay {res.summary['J-Decay']:.4f}"
            f"  F-decay {res.summary['F-Decay']:.4f}  {seconds / frames:.2f} s/frame  "
            f"refined {refined} frames, accepted {accepted} masks",
            flush=True,
        )
        print("   " + "  ".join(f"{k} {v:.3f}" for k, v in per_seq.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
