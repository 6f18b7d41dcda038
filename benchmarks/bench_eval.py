"""Speed and parity of ``vosam.eval`` against the official DAVIS 2017 evaluation.

Builds, under a temporary folder, a DAVIS-layout copy of the development data (the
DAVIS-2016 train sequences as palette PNGs, plus the multi-object sequences) and
predictions made by perturbing the ground truth (erosion/dilation, shifts, vanishing and
swapped objects), then times, in one run:

- the official davis2017-evaluation code (``DAVISEvaluation.evaluate``), copied from the
  checkout given with ``--reference`` into the temporary folder;
- ``vosam eval GT PRED --out DIR`` end to end, as a command in a process of its own, from
  the interpreter's start to its exit after writing summary.json, the CSVs and the plots;
- the same work without the command line's imports: a process of its own running what the
  command runs (``evaluate_dataset``, ``write_report``, the printed table) and checking
  that torch was never imported. It is what ``vosam eval`` costs once the command line
  imports a command's modules only when that command runs;
- ``vosam.eval.evaluate_dataset`` in this process, with the default workers and with one;

and prints the timings (wall clock, and CPU time, which the load of a shared machine
disturbs less), the speed-ups, the load average before and after, and the largest absolute
difference over every number (per-object J/F mean, recall, decay and the seven dataset
figures; the command's summary.json included), for the semi-supervised protocol and, unless
``--skip-unsupervised``, the unsupervised one. It also compares per-object J and F means
with the ``vos-benchmark`` package.

Usage::

    python benchmarks/bench_eval.py --reference /path/to/davis2017-evaluation \
        [--data ../shared/data] [--workers N]

The reference code is never stored in this repository; get it from its public repository.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import vosam
from vosam.eval import evaluate_dataset
from vosam.eval.dataset import default_workers

GLOBAL_KEYS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def _palette() -> list[int]:
    pal = []
    for i in range(256):
        rgb = [0, 0, 0]
        code = i
        for bit in range(7, -1, -1):
            for ch in range(3):
                rgb[ch] |= ((code >> ch) & 1) << bit
            code >>= 3
        pal.extend(rgb)
    return pal


PALETTE = _palette()


def _save(ids: np.ndarray, path: Path) -> None:
    im = Image.fromarray(ids.astype(np.uint8), mode="P")
    im.putpalette(PALETTE)
    im.save(path)


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        a = np.asarray(im)
        if im.mode == "L" and set(np.unique(a).tolist()) <= {0, 255}:
            a = (a > 0).astype(np.uint8)
    return a


def _perturb(gt: np.ndarray, rng: np.random.Generator, *, n_ids: int, swap: bool) -> np.ndarray:
    """A plausible prediction: each object eroded or dilated, sometimes shifted or lost."""
    out = np.zeros_like(gt)
    ids = [int(i) for i in np.unique(gt) if 0 < i < 255]
    perm = {i: i for i in ids}
    if swap and len(ids) > 1:
        shuffled = list(rng.permutation(ids))
        perm = dict(zip(ids, shuffled, strict=True))
    for i in ids:
        m = (gt == i).astype(np.uint8)
        if rng.random() < 0.06:
            continue  # the object vanishes in this frame
        k = int(rng.integers(1, 12))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        m = cv2.dilate(m, kernel) if rng.random() < 0.5 else cv2.erode(m, kernel)
        if rng.random() < 0.2:
            m = np.roll(m, int(rng.integers(-15, 16)), axis=int(rng.integers(0, 2)))
        out[m > 0] = perm[i]
    if n_ids > len(ids) and rng.random() < 0.5:
        # a spurious extra object (unsupervised proposals)
        h, w = gt.shape
        y, x = int(rng.integers(0, h - 20)), int(rng.integers(0, w - 20))
        out[y : y + 20, x : x + 30] = n_ids
    return out


def build(data: Path, work: Path, seed: int) -> tuple[Path, Path, Path, list[str]]:
    """DAVIS root, semi-supervised predictions, unsupervised predictions, sequence names."""
    root, pred, upred = work / "DAVIS", work / "pred-semi", work / "pred-unsup"
    sources = []
    d16 = data / "davis2016-train"
    for seq in sorted(p.name for p in (d16 / "Annotations" / "480p").iterdir()):
        sources.append((seq, d16 / "Annotations" / "480p" / seq, d16 / "JPEGImages" / "480p" / seq))
    multi = data / "multiobject"
    if multi.is_dir():
        for seq in sorted(p.name for p in (multi / "Annotations").iterdir()):
            sources.append((seq, multi / "Annotations" / seq, multi / "JPEGImages" / seq))
    rng = np.random.default_rng(seed)
    names = []
    for seq, ann_dir, img_dir in sources:
        names.append(seq)
        for d in (root / "Annotations" / "480p" / seq, pred / seq, upred / seq):
            d.mkdir(parents=True, exist_ok=True)
        (root / "JPEGImages" / "480p").mkdir(parents=True, exist_ok=True)
        os.symlink(img_dir.resolve(), root / "JPEGImages" / "480p" / seq)
        for f in sorted(ann_dir.glob("*.png")):
            gt = _read(f)
            _save(gt, root / "Annotations" / "480p" / seq / f.name)
            _save(_perturb(gt, rng, n_ids=0, swap=False), pred / seq / f.name)
            _save(_perturb(gt, rng, n_ids=int(gt.max()) + 2, swap=True), upred / seq / f.name)
    (root / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text("\n".join(names) + "\n")
    os.symlink(root / "Annotations", root / "Annotations_unsupervised")
    return root, pred, upred, names


def run_official(reference: Path, work: Path, root: Path, pred: Path, task: str):
    copy = work / "reference"
    if not copy.exists():
        shutil.copytree(reference / "davis2017", copy / "davis2017")
    sys.path.insert(0, str(copy))
    from davis2017.evaluation import DAVISEvaluation

    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):
        metrics = DAVISEvaluation(str(root), task, "train").evaluate(str(pred))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    j, f = metrics["J"], metrics["F"]
    summary = dict(
        zip(
            GLOBAL_KEYS,
            [
                (np.mean(j["M"]) + np.mean(f["M"])) / 2,
                np.mean(j["M"]),
                np.mean(j["R"]),
                np.mean(j["D"]),
                np.mean(f["M"]),
                np.mean(f["R"]),
                np.mean(f["D"]),
            ],
            strict=True,
        )
    )
    objects = [
        (j["M"][i], j["R"][i], j["D"][i], f["M"][i], f["R"][i], f["D"][i])
        for i in range(len(j["M"]))
    ]
    return elapsed, cpu, summary, objects


def run_vosam(root: Path, pred: Path, task: str, names: list[str], workers: int | None):
    start, cpu = time.perf_counter(), time.process_time()
    result = evaluate_dataset(root, pred, protocol=task, sequences=names, workers=workers)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    objects = [astuple(o.j_stats) + astuple(o.f_stats) for o in result.objects]
    return elapsed, cpu, dict(result.summary), objects, result


# the command line's entry point, as the `vosam` script runs it
COMMAND = "import sys; from vosam.cli import main; sys.exit(main(sys.argv[1:]))"
# what `vosam eval GT PRED --out DIR` runs, without the command line's other imports
LIBRARY = """\
import sys
from vosam.eval import evaluate_dataset, write_report
gt, pred, task, sequences, out, workers = sys.argv[1:7]
workers = int(workers) if workers else None
result = evaluate_dataset(gt, pred, protocol=task, sequences=sequences, workers=workers)
write_report(result, out)
keys = list(result.summary)
print("  ".join(f"{k:>9}" for k in keys))
print("  ".join(f"{result.summary[k]:>9.4f}" for k in keys))
assert "torch" not in sys.modules, "torch was imported"
"""


def run_process(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of a child process running ``args``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_command(root: Path, pred: Path, task: str, out: Path, workers: int | None):
    """``vosam eval`` end to end, then the same work without the command line's imports;
    each in a fresh process, writing its report into a folder of ``out``."""
    given = [] if workers is None else ["--workers", str(workers)]
    listed = str(root / "ImageSets" / "2017" / "train.txt")
    command = [sys.executable, "-c", COMMAND, "eval", str(root), str(pred), "--task", task]
    command += ["--sequences", listed, "--out", str(out / "cli"), "--quiet", *given]
    cli = run_process(command)
    library = [sys.executable, "-c", LIBRARY, str(root), str(pred), task, listed]
    lib = run_process([*library, str(out / "lib"), "" if workers is None else str(workers)])
    summary = json.loads((out / "cli" / "summary.json").read_text())
    return cli, lib, summary


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def max_diff(a_summary, a_objects, b_summary, b_objects, *, unordered: bool) -> float:
    diffs = [abs(a_summary[k] - b_summary[k]) for k in GLOBAL_KEYS]
    if unordered:  # the reference lists unsupervised objects in proposal order
        a_objects, b_objects = sorted(a_objects), sorted(b_objects)
    if len(a_objects) != len(b_objects):
        return float("inf")
    for x, y in zip(a_objects, b_objects, strict=True):
        diffs.extend(abs(p - q) for p, q in zip(x, y, strict=True))
    return max(diffs)


def vos_benchmark_diff(root: Path, pred: Path, result) -> float | None:
    try:
        from vos_benchmark.benchmark import VideoEvaluator
    except ImportError:
        return None
    ev = VideoEvaluator(str(root / "Annotations" / "480p"), str(pred))
    worst = 0.0
    for seq in result.sequences:
        _, iou, bf = ev(seq.name)
        for o in seq.objects:
            worst = max(worst, abs(iou[o.object_id] / 100 - o.j_stats.mean))
            worst = max(worst, abs(bf[o.object_id] / 100 - o.f_stats.mean))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="davis2017-evaluation")
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared" / "data")
    parser.add_argument(
        "--workers", type=int, default=None, help="vosam processes (default: vosam's default)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-unsupervised", action="store_true")
    args = parser.parse_args()
    if not (args.reference / "davis2017" / "evaluation.py").is_file():
        sys.exit(f"{args.reference}: not a davis2017-evaluation checkout")
    if not (args.data / "davis2016-train").is_dir():
        sys.exit(f"{args.data}: development data not found")

    with tempfile.TemporaryDirectory(prefix="vosam-bench-eval-") as tmp:
        work = Path(tmp)
        root, pred, upred, names = build(args.data, work, args.seed)
        n_frames = sum(len(list((root / "Annotations" / "480p" / s).glob("*.png"))) for s in names)
        print(f"data: {len(names)} sequences, {n_frames} frames; cpus: {os.cpu_count()}")
        print(f"vosam {vosam.__file__}")
        tasks = [("semi-supervised", pred)]
        if not args.skip_unsupervised:
            tasks.append(("unsupervised", upred))
        for task, pred_root in tasks:
            print(f"\n[{task}] load average before: {load()} (1/5/15 min)")
            t_ref, c_ref, s_ref, o_ref = run_official(args.reference, work, root, pred_root, task)
            out = work / f"report-{task}"
            cli, lib, s_cli = run_command(root, pred_root, task, out, args.workers)
            workers = args.workers or default_workers()
            t_vos, _, s_vos, o_vos, result = run_vosam(root, pred_root, task, names, workers)
            t_one, c_one, *_ = run_vosam(root, pred_root, task, names, 1)
            diff = max_diff(s_ref, o_ref, s_vos, o_vos, unordered=task == "unsupervised")
            diff = max(diff, *(abs(s_cli[k] - s_ref[k]) for k in GLOBAL_KEYS))
            print(f"  {len(o_vos)} objects; load average after: {load()}")
            print(f"  official davis2017-evaluation: {t_ref:8.2f} s wall  {c_ref:8.2f} s CPU")
            print(f"  vosam eval, the command:       {cli[0]:8.2f} s wall  {cli[1]:8.2f} s CPU")
            print(f"  vosam eval, no CLI imports:    {lib[0]:8.2f} s wall  {lib[1]:8.2f} s CPU")
            print(f"  vosam.eval, workers={workers}:        {t_vos:8.2f} s wall")
            print(f"  vosam.eval, 1 process:         {t_one:8.2f} s wall  {c_one:8.2f} s CPU")
            for label, (wall, cpu) in (("the command", cli), ("no CLI imports", lib)):
                print(f"  speed-up, {label}: {t_ref / wall:6.2f} x wall  {c_ref / cpu:6.2f} x CPU")
            print(f"  speed-up, wall (1 process, in this process): {t_ref / t_one:6.2f} x")
            print(f"  max abs difference, every number: {diff:.3g}")
            print("  " + "  ".join(f"{k} {s_vos[k]:.6f}" for k in GLOBAL_KEYS))
            if task == "semi-supervised":
                vb = vos_benchmark_diff(root, pred_root, result)
                if vb is not None:
                    print(f"  max abs difference vs vos-benchmark (J, F means): {vb:.3g}")


if __name__ == "__main__":
    main()
