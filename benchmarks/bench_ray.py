"""Sequences per minute with the local executor and with Ray, and Ray's overhead per task.

The dataset is a DAVIS-layout copy of real sequences cut to their first frames (links, not
copies, under a temporary folder), so a run takes minutes, not hours:

    python benchmarks/bench_ray.py [--data ../shared/data] [--sequences 8] [--frames 20]
        [--short-side 240] [--workers 2] [--ray-address ADDR]

Each executor segments the same sequences into its own fresh folder with the embedded
engine. The local executor runs one process with ``--workers`` torch threads and again with
one; Ray runs ``--workers`` actors with one CPU (and one thread) each, so both use the same
cores. The masks of the one-thread local run and of Ray are compared byte for byte. Ray's
time includes starting its actors (each loads the model) but not connecting to or starting
the cluster, printed apart.

Overhead per task: M + 1 empty tasks (the worker returns at once) through one worker; the
time from the first result to the last over M, which leaves out the worker's start.

With ``--ray-address`` the Ray part runs on an existing cluster (``ray start --head`` on one
machine, ``ray start --address HEAD:6379`` on the others; every node needs vosam installed
and the data at the same path).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from vosam.datasets.davis import find_davis_sequences
from vosam.distributed import build_executor, segment_dataset
from vosam.spec import EngineSpec, RunSpec

REPO = Path(__file__).resolve().parents[1]


class Empty:
    """A worker doing nothing: what remains is the executor's cost per task."""

    def __call__(self, task: int) -> int:
        return task


def cut_dataset(root: Path, out: Path, count: int, frames: int) -> Path:
    """``out``: the first ``count`` sequences of ``root``, each cut to ``frames`` frames."""
    for seq in find_davis_sequences(root)[:count]:
        for kind, src in (("JPEGImages", seq.frames), ("Annotations", seq.annotations)):
            dst = out / kind / "480p" / seq.name
            dst.mkdir(parents=True)
            for path in sorted(src.iterdir())[:frames]:
                (dst / path.name).symlink_to(path.resolve())
    return out


def mask_agreement(a: Path, b: Path) -> tuple[int, int, float]:
    """Identical mask files, mask files in all, and the fraction of equal pixels."""
    from vosam.io import read_mask

    files = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    same, equal, pixels = 0, 0, 0
    for f in files:
        same += (a / f).read_bytes() == (b / f).read_bytes()
        x, y = read_mask(a / f), read_mask(b / f)
        equal += int((x == y).sum())
        pixels += x.size
    return same, len(files), equal / max(pixels, 1)


def per_task(executor, tasks: int) -> float:
    """Seconds per empty task through ``executor``, once its worker runs (start excluded)."""
    stamps: list[float] = []
    executor.run(
        Empty, list(range(1 + tasks)), on_result=lambda i, r: stamps.append(time.perf_counter())
    )
    return (stamps[-1] - stamps[0]) / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sequences", type=int, default=8, help="sequences (default 8)")
    parser.add_argument("--frames", type=int, default=20, help="frames per sequence (20)")
    parser.add_argument("--short-side", type=int, default=240, help="engine resolution (240)")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors = local threads")
    parser.add_argument("--ray-address", help="existing cluster (default: start one here)")
    parser.add_argument("--empty-tasks", type=int, default=200, help="tasks for the overhead")
    parser.add_argument(
        "--local-threads", help="comma-separated thread counts of the local runs (1,WORKERS)"
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vosam-bench-ray-"))
    try:
        root = cut_dataset(args.data / "davis2016-train", tmp / "data", args.sequences, args.frames)
        seqs = find_davis_sequences(root)
        engine = EngineSpec.with_options("embedded", {"short_side": args.short_side})
        spec = RunSpec(engine, device="cpu")
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}"
        )
        print(
            f"{len(seqs)} DAVIS-2016 train sequences × {args.frames} frames (854×480), "
            f"embedded engine at short side {args.short_side}, {args.workers} cores"
        )
        rows = []
        # warm the file cache and lazy imports, so the first timed run is not penalised
        with build_executor("local") as ex:
            segment_dataset(ex, seqs[:1], tmp / "warm-up", spec)
        local_threads = {1, args.workers}
        if args.local_threads:
            local_threads = {int(t) for t in args.local_threads.split(",")} | {1}
        for threads in sorted(local_threads):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            with build_executor("local") as ex:
                out, _ = segment_dataset(ex, seqs, tmp / f"local-{threads}", spec)
            wall = time.perf_counter() - start
            rows.append(("local (1 process)", wall, sum(o.seconds for o in out), f"{threads}"))
        local_task = per_task(build_executor("local"), args.empty_tasks)

        torch.set_num_threads(1)
        start = time.perf_counter()
        ray_ex = build_executor("ray", address=args.ray_address, workers=args.workers)
        connect_s = time.perf_counter() - start
        with ray_ex:
            start = time.perf_counter()
            out, _ = segment_dataset(ray_ex, seqs, tmp / "ray", spec)
            wall = time.perf_counter() - start
            in_tasks = sum(o.seconds for o in out)
            rows.append((f"ray ({args.workers} actors)", wall, in_tasks, "1 per actor"))
            # joins the session opened above; one actor
            ray_task = per_task(build_executor("ray", workers=1), args.empty_tasks)

        print()
        print("| executor | threads | wall (s) | sequences/min | frames/s | Σ task time (s) |")
        print("|---|---|---|---|---|---|")
        frames = len(seqs) * args.frames
        for name, seconds, in_tasks, threads in rows:
            print(
                f"| {name} | {threads} | {seconds:.1f} | {60 * len(seqs) / seconds:.2f} | "
                f"{frames / seconds:.2f} | {in_tasks:.1f} |"
            )
        print("(wall includes building the model once per worker; Σ task time does not)")
        print()
        print(f"Ray cluster start/connect (not counted above): {connect_s:.1f} s")
        print(
            f"overhead per task (empty tasks, one worker): local {1e3 * local_task:.4f} ms, "
            f"ray {1e3 * ray_task:.2f} ms"
        )
        same, files, pixels = mask_agreement(tmp / "local-1", tmp / "ray")
        print(
            f"local (1 thread) vs ray masks: {same} of {files} files identical, "
            f"{100 * pixels:.4f} % of pixels equal"
        )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
