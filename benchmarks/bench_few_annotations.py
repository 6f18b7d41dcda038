"""A few annotated frames, the whole video (XMem++'s protocol): J&F against the number of
annotated frames, frames chosen by vosam's suggestion or evenly spaced, forward only or both
directions (both merge rules).

``n`` frames (``--counts``, default 1, 2, 3, 5) are annotated from the ground truth. With
the default choices the first frame is one of them and the ``n - 1`` others are the frames
that

- ``suggested``: ``vosam suggest`` picks after a forward run from the first frame (the same
  run scores ``n = 1``): XMem++'s diversity selection over that run's masks, greedy, so the
  first ``n - 1`` of one selection of ``max(counts) - 1`` frames;
- ``even``: lie evenly spaced, ``round(i · T / n)`` for ``i = 0 .. n - 1``;
- ``centred`` (``--choices``): lie evenly spaced in the middle of their shares of the video,
  ``floor((i + 1/2) · T / n)``, so the first frame is not annotated and the frames before
  the first annotated one are where the directions differ most.

Each choice is propagated once backward (from the last annotated frame down to frame 0)
and once forward (from the first annotated frame to the end), all annotated frames in
permanent memory; when frame 0 is annotated the forward pass is the forward-only result
(otherwise that run, from frame 0, is played apart), and :class:`vosam.passes.BothPlan`
combines the two passes by the ``nearest`` and the ``confidence`` rules exactly as
``Session.propagate(direction="both")`` does (backward results held as float16), so both
rules cost one pair of passes. Every frame that is not annotated is scored (DAVIS J and F
per object; a sequence's figure is the mean over its objects, the summary the mean over all
objects, as DAVIS's J&F-Mean).

    python benchmarks/bench_few_annotations.py [--data ../shared/data]
        [--sets davis2016-train,multiobject] [--sequences a,b] [--counts 1,2,3,5]
        [--choices suggested,even,centred]
        [--engine embedded] [--checkpoint PATH] [--config FIELD=VALUE ...] [--device cpu]
        [--threads N] [--cache DIR] [--json F]

Per-sequence work is cached under ``--cache`` (default ``benchmarks/.cache/few-annotations``,
one folder per engine setting): the suggestion order and each (choice, n) result's per-frame
scores, so an interrupted run goes on where it stopped and a larger ``--sequences`` reuses
the finished ones. Progress is logged to stderr as it goes.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import logging
import os
import platform
import sys
import time
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from vosam.annotate import blend_frames, select_blended
from vosam.datasets.davis import find_davis_sequences
from vosam.eval.metrics import score_frame
from vosam.io import FolderSource, read_mask
from vosam.passes import BothPlan, held
from vosam.playback import Order
from vosam.session import Session
from vosam.spec import EngineSpec

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("forward", "nearest", "confidence")
CHOICES = ("suggested", "even", "centred")
# the embedded engine's design was tuned on the first 20 davis2016-train sequences; these ten
# were added to the development data later and never used in its design
LATER = frozenset(
    {
        "bear",
        "breakdance-flare",
        "car-turn",
        "elephant",
        "hike",
        "horsejump-low",
        "lucia",
        "mallard-water",
        "rhino",
        "train",
    }
)

log = logging.getLogger("bench_few_annotations")


def even_frames(length: int, n: int) -> list[int]:
    """``n`` frames evenly spaced from frame 0: ``round(i · length / n)``."""
    return sorted({round(i * length / n) for i in range(n)})


def centred_frames(length: int, n: int) -> list[int]:
    """``n`` frames evenly spaced, each in the middle of its share of the video:
    ``floor((i + 1/2) · length / n)``; the first frame is not among them."""
    return sorted({int((i + 0.5) * length / n) for i in range(n)})


def chosen_frames(choice: str, length: int, n: int, order: list[int]) -> list[int]:
    if choice == "suggested":
        return sorted({0, *order[: n - 1]})
    return even_frames(length, n) if choice == "even" else centred_frames(length, n)


def object_ids(masks: list[np.ndarray]) -> list[int]:
    found = set()
    for mask in masks:
        found |= {int(v) for v in np.unique(mask)}
    return sorted(found - {0, 255})


class Sequence:
    """One sequence's frames and ground truth (every frame annotated)."""

    def __init__(self, group: str, name: str, frames: Path, annotations: Path) -> None:
        self.group, self.name = group, name
        self.source = FolderSource(frames)
        self.truth = [read_mask(annotations / f"{n}.png") for n in self.source.names]
        self.objects = object_ids(self.truth)

    def __len__(self) -> int:
        return len(self.source)

    def score(self, index: int, mask: np.ndarray) -> list[list[float]]:
        """``[J per object, F per object]`` of frame ``index``."""
        j, f = score_frame(self.truth[index], mask, self.objects)
        return [j.tolist(), f.tolist()]

    def session(self, engine, annotated: list[int]) -> Session:
        session = Session(self.source, propagator=engine)
        for index in annotated:
            session.add_annotation(index, self.truth[index])
        return session


def forward_from_first(seq: Sequence, engine) -> tuple[dict, list[np.ndarray]]:
    """The forward run from frame 0 alone: its scores and its masks (for the suggestion)."""
    masks, scores = [], {}
    for index, result in seq.session(engine, [0]).propagate():
        masks.append(result.mask)
        if index != 0:
            scores[index] = seq.score(index, masks[-1])
    return {"forward": scores}, masks


def suggestion(seq: Sequence, engine, masks: list[np.ndarray], k: int) -> list[int]:
    """What ``vosam suggest --k k`` picks from the masks of the run from frame 0."""
    pairs = ((image, masks[index]) for index, image in seq.source.frames())
    blended, covered = blend_frames(engine, pairs)
    return select_blended(blended, covered, [0], k=k)


def both_passes(seq: Sequence, engine, annotated: list[int]) -> dict[str, dict]:
    """Scores of the forward-only run and of both merge rules, from one backward and one
    forward pass. When frame 0 is annotated the forward pass is the forward-only run;
    otherwise the forward-only run (from frame 0, the frames before the first annotated one
    predicted from permanent memory alone) is played apart."""
    session = seq.session(engine, annotated)
    plan = BothPlan.of(0, len(seq), annotated)
    backward = {}
    for step in session.run(order=Order.BACKWARD, stop=plan.backward_end):
        if plan.uses_backward(step.index, "confidence"):  # a superset of nearest's
            backward[step.index] = held(step.result)
    scores: dict[str, dict] = {variant: {} for variant in VARIANTS}
    if plan.forward_from > 0:
        for index, result in session.propagate():
            if index not in annotated:
                scores["forward"][index] = seq.score(index, result.mask)
    forward = session.run(order=Order.FORWARD, start=plan.forward_from)
    before = ((index, None) for index in range(plan.forward_from))
    for index, result in chain(before, ((step.index, step.result) for step in forward)):
        if index in annotated:
            continue
        back = backward.pop(index, None)
        if plan.forward_from == 0:
            scores["forward"][index] = seq.score(index, result.mask)
        for merge in ("nearest", "confidence"):
            merged = plan.combine(index, result, back, merge)
            scores[merge][index] = seq.score(index, merged.mask)
    return scores


def summary_of(scores: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per object: mean J and mean F over the scored frames."""
    per_frame = np.array(list(scores.values()))  # (frames, 2, objects)
    return per_frame[:, 0].mean(0), per_frame[:, 1].mean(0)


def run_sequence(seq: Sequence, engine, counts: list[int], choices: list[str], cache: Path) -> dict:
    """Every (choice, n) of one sequence, from the cache where done."""
    folder = cache / seq.name
    folder.mkdir(parents=True, exist_ok=True)
    out: dict = {}
    first = folder / "n1.json"
    order_file = folder / "suggested.json"
    k = max(counts) - 1
    known = json.loads(order_file.read_text())["k"] if order_file.is_file() else 0
    if not first.is_file() or known < k:
        start = time.perf_counter()
        scores, masks = forward_from_first(seq, engine)
        took = time.perf_counter() - start
        first.write_text(json.dumps({"scores": scores, "seconds": took}))
        log.info("%s n=1: %d frames in %.0f s", seq.name, len(seq), took)
        if k:
            start = time.perf_counter()
            order = suggestion(seq, engine, masks, k)
            order_file.write_text(json.dumps({"k": k, "order": order}))
            log.info("%s suggested %s (%.0f s)", seq.name, order, time.perf_counter() - start)
    base = json.loads(first.read_text())["scores"]["forward"]
    base = {int(i): v for i, v in base.items()}
    order = json.loads(order_file.read_text())["order"] if k else []
    for choice in choices:
        for n in counts:
            if n == 1 and choice != "centred":  # frame 0 alone: the run above
                out[(choice, 1)] = {variant: base for variant in VARIANTS}
                continue
            annotated = chosen_frames(choice, len(seq), n, order)
            file = folder / f"{choice}-n{n}.json"
            cached = json.loads(file.read_text()) if file.is_file() else None
            if cached is None or cached["annotated"] != annotated:
                start = time.perf_counter()
                scores = both_passes(seq, engine, annotated)
                took = time.perf_counter() - start
                cached = {"annotated": annotated, "scores": scores, "seconds": took}
                file.write_text(json.dumps(cached))
                figures = "  ".join(
                    f"{v} {np.mean([*summary_of(scores[v])]):.3f}" for v in VARIANTS
                )
                what = f"{seq.name} {choice} n={n} {annotated}"
                log.info("%s: %s (%.0f s)", what, figures, took)
            out[(choice, n)] = {
                v: {int(i): s for i, s in cached["scores"][v].items()} for v in VARIANTS
            }
    return out


def table(
    results: dict[str, dict], names: list[str], counts: list[int], choices: list[str]
) -> list[str]:
    """Markdown rows: J&F (J, F) over all objects of ``names``, per choice, n and variant."""
    rows = []
    for choice in choices:
        for n in counts:
            cells = []
            for variant in VARIANTS:
                js, fs = [], []
                for name in names:
                    j, f = summary_of(results[name][(choice, n)][variant])
                    js += j.tolist()
                    fs += f.tolist()
                jm, fm = float(np.mean(js)), float(np.mean(fs))
                cells.append(f"{(jm + fm) / 2:.3f} ({jm:.3f}, {fm:.3f})")
            rows.append(f"| {choice} | {n} | " + " | ".join(cells) + " |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sets", default="davis2016-train,multiobject")
    parser.add_argument("--sequences", help="comma-separated names (default: all of --sets)")
    parser.add_argument("--counts", default="1,2,3,5", help="numbers of annotated frames")
    parser.add_argument(
        "--choices",
        default="suggested,even",
        help="how the annotated frames are chosen: suggested, even (both from frame 0), "
        "centred (evenly spaced, frame 0 not among them)",
    )
    parser.add_argument("--engine", default="embedded")
    parser.add_argument("--checkpoint", help="weights of engines that need them")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a field of the engine's config (Python literal), e.g. top_k=20",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--cache", type=Path, default=REPO / "benchmarks" / ".cache")
    parser.add_argument("--json", type=Path, help="write the per-sequence figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    counts = sorted({int(c) for c in args.counts.split(",")})
    if counts[0] < 1:
        parser.error("--counts are at least 1")
    choices = args.choices.split(",")
    if not set(choices) <= set(CHOICES):
        parser.error(f"--choices are among {', '.join(CHOICES)}")
    options = {k: ast.literal_eval(v) for k, v in (c.split("=", 1) for c in args.config)}
    spec = EngineSpec.with_options(args.engine, options, checkpoint=args.checkpoint)
    setting = json.dumps(spec.to_dict(), sort_keys=True)
    cache = args.cache / "few-annotations" / hashlib.sha256(setting.encode()).hexdigest()[:12]
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "engine.json").write_text(setting + "\n")
    engine = spec.build(args.device)
    wanted = args.sequences.split(",") if args.sequences else None
    sequences = []
    for group in args.sets.split(","):
        for found in find_davis_sequences(args.data / group):
            if wanted is None or found.name in wanted:
                sequences.append((group, found))
    if wanted is not None and len(sequences) != len(wanted):
        missing = set(wanted) - {s.name for _, s in sequences}
        parser.error(f"no such sequences in {args.sets}: {', '.join(sorted(missing))}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.2f}; engine {setting}",
        file=sys.stderr,
    )
    results, groups = {}, {}
    start = time.perf_counter()
    for group, found in sequences:
        seq = Sequence(group, found.name, found.frames, found.annotations)
        results[seq.name] = run_sequence(seq, engine, counts, choices, cache)
        if group != "davis2016-train":
            groups[seq.name] = group
        else:
            groups[seq.name] = "later" if seq.name in LATER else "design"
    log.info(
        "done: %d sequences in %.0f s, load average %.2f",
        len(results),
        time.perf_counter() - start,
        os.getloadavg()[0],
    )
    header = [
        "| frames chosen | annotated | forward | both, nearest | both, confidence |",
        "|---|---|---|---|---|",
    ]
    subsets = {"all": sorted(results)}
    for label in ("design", "later", "multiobject"):
        names = sorted(n for n, g in groups.items() if g == label)
        if names and len(names) < len(results):
            subsets[label] = names
    for label, names in subsets.items():
        print(f"\n{label} ({len(names)}: {', '.join(names)}), J&F (J, F):")
        print("\n".join(header + table(results, names, counts, choices)))
    if args.json is not None:
        figures = {
            name: {
                f"{choice}-n{n}": {
                    v: float(np.mean([*summary_of(by[(choice, n)][v])])) for v in VARIANTS
                }
                for choice in choices
                for n in counts
            }
            for name, by in results.items()
        }
        args.json.write_text(json.dumps({"groups": groups, "figures": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
