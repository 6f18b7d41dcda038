"""Digests of the masks each vosam command writes on the development data.

Run it before and after a change that must not alter results, and compare::

    python benchmarks/digests.py --out before.json
    ...change...
    python benchmarks/digests.py --out after.json --compare before.json

Each job runs the installed ``vosam`` command in a fresh folder; the digest of a job is the
SHA-256 of every mask PNG it wrote (sorted by path). Layouts the development data lacks
(Long-time Video, YouTube-VOS with an object entering late) are built from it with links
and re-drawn annotations. Exit code 1 when ``--compare`` finds a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DAVIS = DATA / "davis2016-train"
MULTI = DATA / "multiobject"
SPARSE = DATA / "sparse-annotations"
ENTRY = "import sys; from vosam.cli import main; sys.exit(main(sys.argv[1:]))"


def _palette_png(path: Path, mask: np.ndarray, like: Path) -> None:
    """Write ``mask`` with the palette of the PNG ``like``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = Image.fromarray(mask.astype(np.uint8), mode="P")
    out.putpalette(Image.open(like).getpalette())
    out.save(path)


def build_layouts(work: Path) -> dict[str, Path]:
    """Long-time Video and YouTube-VOS roots made from the development data."""
    roots = {}
    # Long-time Video: caps' frames with its five sparse annotations
    long_root = work / "long"
    (long_root / "JPEGImages").mkdir(parents=True)
    (long_root / "Annotations").mkdir()
    (long_root / "JPEGImages" / "caps").symlink_to(SPARSE / "caps" / "JPEGImages")
    (long_root / "Annotations" / "caps").symlink_to(SPARSE / "caps" / "Annotations")
    roots["long"] = long_root
    # YouTube-VOS 2019 valid: dogs-jump every 5th frame, all frames beside; object 3 enters
    # late (annotated alone on the first listed frame where the ground truth shows it)
    yt = work / "ytvos"
    frames = sorted((MULTI / "JPEGImages" / "dogs-jump").glob("*.jpg"))
    every5 = [f.stem for f in frames][::5]
    (yt / "valid" / "JPEGImages" / "dogs-jump").mkdir(parents=True)
    (yt / "valid_all_frames" / "JPEGImages").mkdir(parents=True)
    (yt / "valid_all_frames" / "JPEGImages" / "dogs-jump").symlink_to(
        MULTI / "JPEGImages" / "dogs-jump"
    )
    for name in every5:
        (yt / "valid" / "JPEGImages" / "dogs-jump" / f"{name}.jpg").symlink_to(
            MULTI / "JPEGImages" / "dogs-jump" / f"{name}.jpg"
        )
    gt = MULTI / "Annotations" / "dogs-jump"
    first = np.array(Image.open(gt / f"{every5[0]}.png"))
    ann = yt / "valid" / "Annotations" / "dogs-jump"
    _palette_png(ann / f"{every5[0]}.png", np.where(first == 3, 0, first), gt / f"{every5[0]}.png")
    late = every5[2]
    later = np.array(Image.open(gt / f"{late}.png"))
    _palette_png(ann / f"{late}.png", np.where(later == 3, 3, 0), gt / f"{late}.png")
    objects = {
        "1": {"frames": every5},
        "2": {"frames": every5},
        "3": {"frames": every5[2:]},
    }
    meta = {"videos": {"dogs-jump": {"objects": objects}}}
    (yt / "valid" / "meta.json").write_text(json.dumps(meta))
    roots["ytvos"] = yt
    # chair's first annotation alone, for the video-file job
    chair = work / "chair-first"
    chair.mkdir()
    (chair / "00000.png").symlink_to(SPARSE / "chair" / "Annotations" / "frame_000000.png")
    roots["chair"] = chair
    return roots


def jobs(work: Path, roots: dict[str, Path]) -> dict[str, list[str]]:
    """Job name → ``vosam`` arguments (the output folder is ``work/out/<name>``)."""
    out = work / "out"
    davis_seqs = "bus,dog-agility,tennis"
    return {
        "segment-caps-sparse": [
            "segment", str(SPARSE / "caps" / "JPEGImages"),
            "--masks", str(SPARSE / "caps" / "Annotations"),
            "--out", str(out / "segment-caps-sparse"),
        ],
        "segment-chair-mp4": [
            "segment", str(SPARSE / "chair" / "chair.mp4"),
            "--masks", str(roots["chair"]), "--out", str(out / "segment-chair-mp4"),
        ],
        "segment-caps-no-permanent": [
            "segment", str(SPARSE / "caps" / "JPEGImages"),
            "--masks", str(SPARSE / "caps" / "Annotations"), "--no-permanent-memory",
            "--out", str(out / "segment-caps-no-permanent"),
        ],
        "dataset-davis": [
            "dataset", str(DAVIS), "--sequences", davis_seqs, "--out", str(out / "dataset-davis"),
        ],
        "dataset-long-video-x3": [
            "dataset", str(roots["long"]), "--format", "long-video", "--long-video-x3",
            "--out", str(out / "dataset-long-video-x3"),
        ],
        "dataset-youtube-vos": [
            "dataset", str(roots["ytvos"]), "--format", "youtube-vos",
            "--out", str(out / "dataset-youtube-vos"),
        ],
        "dataset-davis-refiner": [
            "dataset", str(DAVIS), "--sequences", "bus", "--refiner", "embedded",
            "--out", str(out / "dataset-davis-refiner"),
        ],
        "discover": [
            "discover", str(DAVIS / "JPEGImages" / "480p" / "kite-walk"),
            "--out", str(out / "discover"),
        ],
    }  # fmt: skip


def digest(folder: Path) -> dict[str, str | int]:
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*.png") if p.is_file())
    for path in files:
        h.update(str(path.relative_to(folder)).encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return {"pngs": len(files), "sha256": h.hexdigest()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the digests")
    parser.add_argument("--compare", type=Path, help="an earlier --out file to compare with")
    parser.add_argument("--only", help="comma-separated job names (default: all)")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no development data at {DATA}", file=sys.stderr)
        return 2
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roots = build_layouts(work)
        wanted = set(args.only.split(",")) if args.only else None
        for name, argv in jobs(work, roots).items():
            if wanted is not None and name not in wanted:
                continue
            start = time.perf_counter()
            cmd = [sys.executable, "-c", ENTRY, *argv, "--quiet"]
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{name}: exit {run.returncode}\n{run.stderr}", file=sys.stderr)
                return 2
            results[name] = digest(work / "out" / name)
            took = time.perf_counter() - start
            print(f"{name}: {results[name]['pngs']} PNGs {results[name]['sha256'][:16]} "
                  f"({took:.0f} s)", file=sys.stderr)  # fmt: skip
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    differ = [n for n in results if n in before and before[n] != results[n]]
    for name in differ:
        print(f"DIFFERS: {name}", file=sys.stderr)
    print(f"{len(results) - len(differ)} of {len(results)} jobs identical", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
