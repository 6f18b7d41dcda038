"""``vosam eval``: score predicted masks against ground truth (DAVIS, long videos, LVOS,
YouTube-VIS) and optionally write summary.json, CSV tables and plots."""

from __future__ import annotations

import argparse
import sys

from vosam.cli.executor_args import add_executor_args, executor_from_args

TASKS = ("semi-supervised", "unsupervised", "long-video", "lvos", "vis")

_EPILOG = """\
ground truth layouts (GT_ROOT): Annotations/480p/<seq>/*.png (DAVIS), Annotations/<seq>/*.png
(LVOS), <seq>/Annotations/*.png, <seq>/*.png; predictions (PRED_ROOT): <seq>/<frame>.png.
With --task vis, GT_ROOT is a YouTube-VIS ground-truth JSON and PRED_ROOT a results JSON.
Outputs of `vosam dataset --format F`: davis, long-video (also with --long-video-x3) and lvos
write PRED_ROOT/<seq>/; youtube-vos writes OUT/Annotations/<video>/ (PRED_ROOT is
OUT/Annotations; with full ground truth, as in train, score it with --task lvos: every object
from its first appearance); youtube-vis writes OUT/results.json.

examples:
  vosam eval DAVIS results/osvos --sequences DAVIS/ImageSets/2017/val.txt --out report/
  vosam eval LVOS/valid results/ --task lvos --unseen unseen_videos.txt
  vosam eval valid.json results.json --task vis --out report/
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate predicted masks (J, F, J&F, LVOS V, YouTube-VIS AP)",
        description=(
            "Score predicted masks against ground truth (DAVIS J, F and J&F; long videos; "
            "LVOS seen/unseen and V; YouTube-VIS AP) and optionally write summary.json, "
            "CSV tables and plots."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("gt_root", metavar="GT_ROOT", help="ground-truth folder (or JSON for vis)")
    p.add_argument("pred_root", metavar="PRED_ROOT", help="predictions folder (or JSON for vis)")
    p.add_argument(
        "--task",
        choices=TASKS,
        default="semi-supervised",
        help="semi-supervised (DAVIS, default), unsupervised (DAVIS, Hungarian matching), "
        "long-video (annotated frames only), lvos (objects from their first appearance), "
        "vis (YouTube-VIS AP)",
    )
    p.add_argument("--out", metavar="DIR", help="write summary.json, CSVs and plots here")
    p.add_argument(
        "--sequences",
        metavar="LIST",
        help="comma-separated names, or a file with one name per line (default: all)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel processes (default: the CPUs not already busy, from the load average)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--meta", metavar="JSON", help="lvos: meta JSON (default: GT_ROOT/*_meta.json)")
    p.add_argument(
        "--unseen",
        metavar="FILE",
        help="lvos: list of unseen videos (default: GT_ROOT/unseen_videos.txt if present)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_executor_args(p, workers_flag=False)
    p.set_defaults(func=run)


def _progress(done: int, total: int, name: str) -> None:
    print(f"[{done}/{total}] {name}", file=sys.stderr, flush=True)


def _print_table(values: dict[str, float]) -> None:
    keys = list(values)
    width = max(max(len(k) for k in keys), 8)
    print("  ".join(f"{k:>{width}}" for k in keys))
    print("  ".join(f"{values[k]:>{width}.4f}" for k in keys))


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        print("vosam eval: error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.task == "vis" and args.executor != "local":
        print("vosam eval: error: --task vis runs locally only", file=sys.stderr)
        return 2
    if args.out:
        from pathlib import Path

        from vosam.runs import check_apart

        check_apart([Path(args.out)], [Path(args.gt_root), Path(args.pred_root)])
    if args.task == "vis":
        from vosam.eval.vis import evaluate_vis

        vis = evaluate_vis(args.gt_root, args.pred_root)
        if args.out:
            from vosam.eval.report import write_vis_report

            write_vis_report(vis, args.out, plots=not args.no_plots)
        _print_table(vis.summary)
        return 0

    from vosam.eval.dataset import evaluate_dataset

    if args.executor != "local":
        # one task per sequence on the cluster; --workers counts its workers
        from vosam.distributed.evaluate import evaluate_dataset_with

        with executor_from_args(args) as executor:
            result = evaluate_dataset_with(
                executor,
                args.gt_root,
                args.pred_root,
                protocol=args.task,
                sequences=args.sequences,
                progress=None if args.quiet else _progress,
                meta=args.meta,
                unseen=args.unseen,
            )
    else:
        result = evaluate_dataset(
            args.gt_root,
            args.pred_root,
            protocol=args.task,
            sequences=args.sequences,
            workers=args.workers,
            progress=None if args.quiet else _progress,
            meta=args.meta,
            unseen=args.unseen,
        )
    if args.out:
        from vosam.eval.report import write_report

        write_report(result, args.out, plots=not args.no_plots)
    if len(result.sequences) > 1:
        width = max(len(s.name) for s in result.sequences)
        for s in result.sequences:
            print(f"{s.name:<{width}}  J&F {s.jf_mean:.4f}  J {s.j_mean:.4f}  F {s.f_mean:.4f}")
        print()
    table = dict(result.summary)
    table.update(result.extra)
    _print_table(table)
    return 0
