"""``vosam eval``: score predicted masks against ground truth (DAVIS, long videos, LVOS,
YouTube-VIS) and optionally write summary.json, CSV tables and plots."""

from __future__ import annotations

import argparse
import sys

from vosam.cli.common import add_wait_arg
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
        "--overwrite",
        action="store_true",
        help="replace a report of other predictions or settings in --out (only the files it wrote)",
    )
    add_wait_arg(p)
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
    if not args.out:
        _evaluate(args)
        return 0
    from pathlib import Path

    from vosam.errors import InputError
    from vosam.runs import check_apart, check_output, locked_outputs, staged_run

    # inputs that are not there are named before the output folder is looked at
    for given, what in ((args.gt_root, "ground-truth"), (args.pred_root, "prediction")):
        if not Path(given).exists():
            kind = "file" if args.task == "vis" else "folder"
            raise InputError(given, f"{what} {kind} does not exist")
    out = Path(args.out)
    check_apart([out], [Path(args.gt_root), Path(args.pred_root)])
    settings = report_settings(args)
    with locked_outputs(out, wait=args.wait, command="eval"):
        # a report of the same settings is made again (the predictions may have changed)
        check_output(out, settings=settings, names=(), overwrite=args.overwrite)
        write = _evaluate(args)
        with staged_run(out, settings) as run:
            run.frames = 0
            write(run.path)
    return 0


def report_settings(args: argparse.Namespace) -> dict:
    """What a report in ``--out`` is of (recorded in its ``run.json``): another ground
    truth, predictions, task or selection is another report."""
    from pathlib import Path

    import vosam

    def where(value: str | None) -> str | None:
        return None if value is None else str(Path(value).resolve())

    sequences = args.sequences
    if sequences and Path(sequences).is_file():
        sequences = where(sequences)
    return {
        "command": "eval",
        "gt_root": where(args.gt_root),
        "pred_root": where(args.pred_root),
        "task": args.task,
        "sequences": sequences,
        "meta": where(args.meta),
        "unseen": where(args.unseen),
        "plots": not args.no_plots,
        "version": vosam.__version__,
    }


def _evaluate(args: argparse.Namespace):  # -> Callable[[Path], object]
    """Evaluate, print the table, and return the writer of the report into a folder."""
    if args.task == "vis":
        from vosam.eval.vis import evaluate_vis

        vis = evaluate_vis(args.gt_root, args.pred_root)
        _print_table(vis.summary)

        def write_vis(folder):
            from vosam.eval.report import write_vis_report

            return write_vis_report(vis, folder, plots=not args.no_plots)

        return write_vis

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
    if len(result.sequences) > 1:
        width = max(len(s.name) for s in result.sequences)
        for s in result.sequences:
            print(f"{s.name:<{width}}  J&F {s.jf_mean:.4f}  J {s.j_mean:.4f}  F {s.f_mean:.4f}")
        print()
    table = dict(result.summary)
    table.update(result.extra)
    _print_table(table)

    def write(folder):
        from vosam.eval.report import write_report

        return write_report(result, folder, plots=not args.no_plots)

    return write
