"""XMem++ permanent memory against first-frame-only propagation, embedded engine.

On the fully annotated ``sparse-annotations/chair`` clip, five frames (0, 12, 24, 36, 48)
are given as annotations and kept in permanent memory; the baseline gets frame 0 only. J is
measured on the frames within 3 of a later annotation (annotated frames excluded) and on
every non-annotated frame.

    python benchmarks/bench_permanent_memory.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from vosam.engines.embedded import EmbeddedPropagator
from vosam.eval import jaccard
from vosam.io import FolderSource, read_mask
from vosam.session import Session, SessionConfig

REPO = Path(__file__).resolve().parents[1]
ANNOTATED = (0, 12, 24, 36, 48)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    clip = args.data / "sparse-annotations" / "chair"
    names = FolderSource(clip / "JPEGImages").names
    gt = [read_mask(clip / "Annotations" / f"{n}.png") for n in names]
    near = sorted(
        {t for a in ANNOTATED[1:] for t in range(a - 3, a + 4) if 0 <= t < len(gt)} - set(ANNOTATED)
    )
    rest = [t for t in range(len(gt)) if t not in ANNOTATED]
    engine = EmbeddedPropagator(device="cpu")
    runs = (("first frame only", (0,), False), ("5 annotations, permanent", ANNOTATED, True))
    for label, annotated, permanent in runs:
        config = SessionConfig(permanent_memory=permanent)
        session = Session(clip / "JPEGImages", propagator=engine, config=config)
        for index in annotated:
            session.add_annotation(index, gt[index])
        start = time.perf_counter()
        masks = {i: r.mask for i, r in session.propagate()}
        fps = len(gt) / (time.perf_counter() - start)

        def mean_j(frames: list[int], masks: dict = masks) -> float:
            return float(np.mean([jaccard(gt[t] > 0, masks[t] > 0) for t in frames]))

        print(
            f"{label:26s} J near annotations ({len(near)} frames) {mean_j(near):.3f}  "
            f"J all non-annotated ({len(rest)}) {mean_j(rest):.3f}  {fps:.2f} frames/s"
        )


if __name__ == "__main__":
    main()
