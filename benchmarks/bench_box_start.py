"""J&F starting from a box against starting from the mask, on DAVIS-2016 train sequences.

For each sequence, in the same run and with the same loaded models: the whole pipeline
from the box of the ground-truth mask on the first frame (the embedded segmenter turns the
box into a mask, the embedded engine propagates it), and the engine propagating the
ground-truth mask itself. Both are scored by vosam's DAVIS semi-supervised evaluation
(the first frame is not scored, as in DAVIS; the box's mask there is reported apart as its
IoU with the ground truth).

    python benchmarks/bench_box_start.py [--data ../shared/data] [--sequences a,b]
        [--out DIR] [--json F] [--threads N] [--device cpu]

Prints one line per sequence and the two dataset summaries, with the load average before
and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vosam.datasets.davis import find_davis_sequences
from vosam.engines import build_propagator
from vosam.eval import evaluate_dataset
from vosam.io import FolderSource, read_mask, write_mask
from vosam.refine import build_segmenter
from vosam.refine.base import Prompt
from vosam.session import Session

REPO = Path(__file__).resolve().parents[1]


def boxes_of(mask: np.ndarray) -> dict[int, np.ndarray]:
    """Object id → its box ``x0, y0, x1, y1`` (pixel extents, corners inclusive)."""
    out = {}
    for oid in np.unique(mask):
        if 0 < oid < 255:
            ys, xs = np.nonzero(mask == oid)
            out[int(oid)] = np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)
    return out


def run(session: Session, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, result in session.propagate():
        write_mask(folder / f"{session.names[index]}.png", result.mask)


def jf_by_sequence(result) -> dict[str, float]:
    return {
        seq.name: float(np.mean([(o.j_stats.mean + o.f_stats.mean) / 2 for o in seq.objects]))
        for seq in result.sequences
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sequences", help="comma-separated names (default: all 20)")
    parser.add_argument("--out", type=Path, help="keep the predicted masks here")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.data / "davis2016-train"
    names = args.sequences.split(",") if args.sequences else None
    sequences = find_davis_sequences(root, names=names)
    out = args.out or Path(tempfile.mkdtemp(prefix="vosam-bench-"))
    engine = build_propagator("embedded", device=args.device)
    segmenter = build_segmenter("embedded", device=args.device)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    first_iou: dict[str, float] = {}
    frames, started = 0, time.perf_counter()
    for seq in sequences:
        first = seq.first_annotation()
        truth = read_mask(first)
        source = FolderSource(seq.frames)
        index = source.names.index(first.stem)
        from_mask = Session(source, propagator=engine)
        from_mask.add_annotation(index, truth)
        run(from_mask, out / "mask" / seq.name)
        from_box = Session(FolderSource(seq.frames), propagator=engine, segmenter=segmenter)
        for oid, box in boxes_of(truth).items():
            from_box.add_prompt(index, oid, Prompt(box=box))
        run(from_box, out / "box" / seq.name)
        made = from_box.prompt_masks[index]
        ious = [
            np.count_nonzero((made == k) & (truth == k))
            / np.count_nonzero((made == k) | (truth == k))
            for k in boxes_of(truth)
        ]
        first_iou[seq.name] = float(np.mean(ious))
        frames += 2 * len(source)
        print(
            f"{seq.name:18s} {len(source):4d} frames  first-frame IoU of the box's mask "
            f"{first_iou[seq.name]:.3f}",
            flush=True,
        )
    elapsed = time.perf_counter() - started
    print(f"load average {os.getloadavg()[0]:.2f}; {frames} frames in {elapsed:.0f} s")
    chosen = [s.name for s in sequences]
    by_mask = evaluate_dataset(root, out / "mask", sequences=chosen, workers=1)
    by_box = evaluate_dataset(root, out / "box", sequences=chosen, workers=1)
    jf_mask, jf_box = jf_by_sequence(by_mask), jf_by_sequence(by_box)
    print(f"{'sequence':18s} {'J&F from mask':>14s} {'J&F from box':>13s}")
    for name in chosen:
        print(f"{name:18s} {jf_mask[name]:14.3f} {jf_box[name]:13.3f}")
    figures = {
        "sequences": len(chosen),
        "from_mask": by_mask.summary,
        "from_box": by_box.summary,
        "first_frame_iou_of_box_mask": float(np.mean(list(first_iou.values()))),
        "seconds": elapsed,
        "frames_propagated": frames,
        "device": args.device,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
