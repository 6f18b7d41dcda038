"""J&F and frames/s of the embedded engine on DAVIS-2016 train sequences.

End to end per sequence: frames read from JPEG, propagated from the first annotation,
palette PNGs written; then the DAVIS semi-supervised evaluation over what was written.

    python benchmarks/bench_embedded.py [--data ../shared/data] [--sequences a,b] [--out DIR]

Prints one line per sequence (J&F, frames, frames/s) and the dataset summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from vosam.datasets.davis import find_davis_sequences
from vosam.engines.embedded import EmbeddedPropagator
from vosam.eval import evaluate_dataset
from vosam.io import FolderSource, read_mask, write_mask
from vosam.session import Session

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sequences", help="comma-separated names (default: all 20)")
    parser.add_argument("--out", type=Path, help="keep the predicted masks here")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    root = args.data / "davis2016-train"
    names = args.sequences.split(",") if args.sequences else None
    sequences = find_davis_sequences(root, names=names)
    out = args.out or Path(tempfile.mkdtemp(prefix="vosam-bench-"))
    engine = EmbeddedPropagator(device="cpu")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    total_frames, total_time = 0, 0.0
    for seq in sequences:
        start = time.perf_counter()
        source = FolderSource(seq.frames)
        session = Session(source, propagator=engine)
        first = seq.first_annotation()
        session.add_annotation(source.names.index(first.stem), read_mask(first))
        (out / seq.name).mkdir(parents=True, exist_ok=True)
        for index, result in session.propagate():
            write_mask(out / seq.name / f"{source.names[index]}.png", result.mask)
        elapsed = time.perf_counter() - start
        total_frames += len(source)
        total_time += elapsed
        print(
            f"{seq.name:18s} {len(source):4d} frames  {len(source) / elapsed:5.2f} frames/s",
            flush=True,
        )
    result = evaluate_dataset(root, out, sequences=[s.name for s in sequences], workers=1)
    figures = {**result.summary, "frames": total_frames, "frames_per_s": total_frames / total_time}
    for seq in result.sequences:
        jf = sum((o.j_stats.mean + o.f_stats.mean) / 2 for o in seq.objects) / len(seq.objects)
        print(f"{seq.name:18s} J&F {jf:.3f}")
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
