"""Command-line options choosing where per-sequence work runs (``--executor local|ray``)."""

from __future__ import annotations

import argparse

from vosam.distributed import Executor, available_executors, build_executor
from vosam.errors import VosamError


def add_executor_args(parser: argparse.ArgumentParser, *, workers_flag: bool = True) -> None:
    """Add ``--executor``, ``--ray-address``, ``--workers``, ``--cpus-per-task``,
    ``--gpus-per-task`` and ``--max-attempts`` (``workers_flag=False`` when the command
    already has its own ``--workers``)."""
    group = parser.add_argument_group("executor")
    group.add_argument(
        "--executor",
        default="local",
        choices=available_executors(),
        help="local: sequences one after another in this process (default); ray: one task "
        "per sequence on a Ray cluster, the model loaded once per worker",
    )
    group.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster to join (e.g. HEAD:6379 after `ray start --head`, or auto); "
        "default: RAY_ADDRESS, else a cluster started on this machine",
    )
    if workers_flag:
        group.add_argument(
            "--workers",
            type=int,
            help="ray: number of workers (default: as many as the free CPUs/GPUs allow)",
        )
    group.add_argument(
        "--cpus-per-task", type=float, default=1.0, help="ray: CPUs per worker (default 1)"
    )
    group.add_argument(
        "--gpus-per-task", type=float, default=0.0, help="ray: GPUs per worker (default 0)"
    )
    group.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="ray: runs of a sequence whose worker keeps dying before giving up (default 3)",
    )


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The executor the options ask for (a context manager: close it when done)."""
    if args.executor == "local":
        return build_executor("local")
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise VosamError("--workers must be at least 1")
    if args.cpus_per_task <= 0 or args.gpus_per_task < 0 or args.max_attempts < 1:
        raise VosamError("--cpus-per-task must be > 0, --gpus-per-task >= 0, --max-attempts >= 1")
    return build_executor(
        args.executor,
        address=args.ray_address,
        workers=workers,
        cpus_per_task=args.cpus_per_task,
        gpus_per_task=args.gpus_per_task,
        max_attempts=args.max_attempts,
    )
