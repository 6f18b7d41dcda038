"""``vosam models``: the named models (list, pull ahead of time, where each file goes)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list, fetch and locate the official model weights",
        description="The named models of the engines and segmenters (--model NAME, "
        "--segmenter-weights NAME, --refiner-weights NAME): their files are fetched once "
        "into the cache ($VOSAM_HOME, else the user cache folder) and checked before every "
        "load.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="known models, what is cached and the sizes", description="List models."
    )
    listing.set_defaults(func=run_list)
    pull = actions.add_parser(
        "pull",
        help="fetch models ahead of time (clusters, machines without a network later)",
        description="Download and check each model not cached yet (an interrupted download "
        "is resumed); check the ones already cached.",
    )
    pull.add_argument("names", nargs="+", metavar="NAME", help="model names or Hugging Face ids")
    pull.add_argument("--quiet", action="store_true", help="no progress output")
    pull.set_defaults(func=run_pull)
    path = actions.add_parser(
        "path",
        help="where a model's file is, or goes when placed by hand",
        description="Print the path of a model's file in the cache, whether or not it is "
        "there yet: on a machine without a network, copy the file there.",
    )
    path.add_argument("name", metavar="NAME", help="model name")
    path.set_defaults(func=run_path)


def run_list(args: argparse.Namespace) -> int:
    from vosam.models import cache_root, catalogue, status
    from vosam.models.download import human_size

    rows = [("NAME", "SERVES AS", "CACHED", "SIZE", "DIGEST", "LICENCE")]
    for entry in catalogue().values():
        state, size = status(entry)
        digest = "published" if entry.published_digest else "at first download"
        shown = human_size(size) if size is not None else "-"
        rows.append((entry.name, entry.describe(), state, shown, digest, entry.licence))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    print(f"\ncache: {cache_root()}", file=sys.stderr)
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from vosam.errors import DownloadError, VosamError
    from vosam.models import ensure, lookup

    for name in args.names:
        lookup(name)  # every name is known before anything is fetched
    failed = 0
    for name in args.names:
        try:
            path = ensure(name, progress=not args.quiet)
        except (DownloadError, VosamError) as exc:
            print(f"vosam models: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {path}")
    return 2 if failed else 0


def run_path(args: argparse.Namespace) -> int:
    from vosam.models import lookup, model_path

    entry, _ = lookup(args.name)
    print(model_path(entry))
    return 0
