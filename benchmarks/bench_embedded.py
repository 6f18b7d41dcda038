"""J&F and frames/s of an embedded engine on DAVIS-2016 train sequences.

End to end per sequence: frames read from JPEG, propagated from the first annotation,
palette PNGs written; then the DAVIS semi-supervised evaluation over what was written.

    python benchmarks/bench_embedded.py [--data ../shared/data] [--sequences a,b] [--out DIR]
        [--engine embedded|embedded-v1] [--threads N] [--json F] [--config FIELD=VALUE ...]

Prints one line per sequence (J&F, frames, frames/s, CPU time per frame) and the dataset
summary. CPU time (all threads of the process) is less sensitive than wall time to other
work on a shared machine; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from vosam import registry
from vosam.datasets.davis import find_davis_sequences
from vosam.engines import build_propagator
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
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--engine", default="embedded", help="embedded (default) or embedded-v1")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a field of the engine's config to change (Python literal), e.g. top_k=5",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.data / "davis2016-train"
    names = args.sequences.split(",") if args.sequences else None
    sequences = find_davis_sequences(root, names=names)
    out = args.out or Path(tempfile.mkdtemp(prefix="vosam-bench-"))
    changes = {k: ast.literal_eval(v) for k, v in (c.split("=", 1) for c in args.config)}
    config = dataclasses.replace(registry.config_class("engine", args.engine)(), **changes)
    engine = build_propagator(args.engine, config=config, device="cpu")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, engine {args.engine}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    total_frames, total_time, total_cpu = 0, 0.0, 0.0
    for seq in sequences:
        start, start_cpu = time.perf_counter(), time.process_time()
        source = FolderSource(seq.frames)
        session = Session(source, propagator=engine)
        first = seq.first_annotation()
        session.add_annotation(source.names.index(first.stem), read_mask(first))
        (out / seq.name).mkdir(parents=True, exist_ok=True)
        for index, result in session.propagate():
            write_mask(out / seq.name / f"{source.names[index]}.png", result.mask)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - start_cpu
        total_frames += len(source)
        total_time += elapsed
        total_cpu += cpu
        print(
            f"{seq.name:18s} {len(source):4d} frames  {len(source) / elapsed:5.2f} frames/s  "
            f"CPU {1000 * cpu / len(source):6.1f} ms/frame",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.2f}")
    result = evaluate_dataset(root, out, sequences=[s.name for s in sequences], workers=1)
    figures = {
        **result.summary,
        "frames": total_frames,
        "frames_per_s": total_frames / total_time,
        "cpu_ms_per_frame": 1000 * total_cpu / total_frames,
        "threads": torch.get_num_threads(),
    }
    for seq in result.sequences:
        jf = sum((o.j_stats.mean + o.f_stats.mean) / 2 for o in seq.objects) / len(seq.objects)
        print(f"{seq.name:18s} J&F {jf:.3f}")
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
