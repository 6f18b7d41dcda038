"""Evaluating a whole dataset from folders of masks, sequences in parallel processes."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from vosam.errors import InputError
from vosam.eval.errors import LayoutError, MissingPredictionError
from vosam.eval.layout import FileMaskReader, find_ground_truth, list_frames, parse_sequence_list
from vosam.eval.lvos import find_meta, lvos_summary, ranges_for, read_meta, read_unseen
from vosam.eval.results import DatasetResult, SequenceResult, summary_of
from vosam.eval.sequence import MAX_PROPOSALS, PROTOCOLS, FrameRange, score_sequence

__all__ = ["Progress", "default_workers", "evaluate_dataset"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""Called after each sequence with (sequences done, sequences in all, name just done)."""


@dataclass(frozen=True)
class _Job:
    name: str
    gt_dir: Path
    pred_dir: Path
    frames: tuple[str, ...]
    protocol: str
    ranges: dict[int, FrameRange] | None
    max_proposals: int
    category: str | None

    def run(self) -> SequenceResult:
        return score_sequence(
            self.name,
            self.frames,
            FileMaskReader(self.gt_dir, prediction=False),
            FileMaskReader(self.pred_dir, prediction=True),
            protocol=self.protocol,
            ranges=self.ranges,
            max_proposals=self.max_proposals,
            category=self.category,
        )


@dataclass(frozen=True)
class _Failure:
    """An input error raised in a worker, carried back as plain data."""

    kind: type
    path: str | None
    problem: str

    def raise_it(self) -> None:
        raise self.kind(self.path, self.problem)


def _run_job(job: _Job) -> SequenceResult | _Failure:
    try:
        return job.run()
    except InputError as e:
        return _Failure(type(e), None if e.path is None else str(e.path), e.problem)


def default_workers() -> int:
    """CPUs not already busy: the CPU count minus the 1-minute load average, at least 1.

    On an idle machine that is every CPU; on one whose CPUs other work keeps busy, extra
    processes would only add start-up and switching costs.
    """
    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (OSError, AttributeError):  # not available on every platform
        busy = 0.0
    return max(1, min(cpus, round(cpus - busy)))


def _workers_can_start() -> bool:
    """Worker processes re-import the main script; one read from stdin cannot be."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or Path(main_file).exists()


def _pool_context() -> multiprocessing.context.BaseContext:
    # forkserver/spawn: workers never inherit a parent's threads (OpenCV's pool, for one)
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["vosam.eval.dataset"])
        return ctx
    return multiprocessing.get_context("spawn")


def _expected_frames(job: _Job) -> list[str]:
    if job.protocol == "unsupervised":
        return list(job.frames)
    if job.protocol == "lvos":
        return []
    return list(job.frames[1:-1])


def _check_predictions(jobs: Iterable[_Job]) -> None:
    """Fail before any scoring when a sequence or a frame that must be scored is missing."""
    for job in jobs:
        if not job.pred_dir.is_dir():
            raise MissingPredictionError(
                job.pred_dir, f"no predictions for sequence '{job.name}' (folder missing)"
            )
        expected = _expected_frames(job)
        if expected:
            present = set(list_frames(job.pred_dir))
            for frame in expected:
                if frame not in present:
                    raise MissingPredictionError(
                        job.pred_dir / f"{frame}.png", "predicted mask is missing"
                    )


def _jobs(
    gt_root: Path,
    pred_root: Path,
    protocol: str,
    names: list[str] | None,
    max_proposals: int,
    meta: str | Path | None,
    unseen: str | Path | Iterable[str] | None,
) -> list[_Job]:
    found = find_ground_truth(gt_root, protocol=protocol)
    if names is None:
        names = sorted(found)
    for name in names:
        if name not in found:
            raise LayoutError(gt_root, f"no ground truth for sequence '{name}'")
    meta_objects: dict[str, dict[int, tuple[int, int]]] | None = None
    meta_path: Path | None = None
    unseen_names: set[str] = set()
    if protocol == "lvos":
        meta_path = Path(meta) if meta is not None else find_meta(gt_root)
        if meta_path is not None:
            meta_objects = read_meta(meta_path)
        unseen_names = read_unseen(unseen, gt_root)
    jobs = []
    for name in names:
        frames = tuple(list_frames(found[name]))
        ranges = None
        if meta_objects is not None and meta_path is not None:
            if name not in meta_objects:
                raise LayoutError(meta_path, f"no entry for sequence '{name}'")
            ranges = ranges_for(name, frames, meta_objects[name], meta_path)
        category = None
        if protocol == "lvos":
            category = "unseen" if name in unseen_names else "seen"
        jobs.append(
            _Job(
                name,
                found[name],
                pred_root / name,
                frames,
                protocol,
                ranges,
                max_proposals,
                category,
            )
        )
    return jobs


def evaluate_dataset(
    gt_root: str | Path,
    pred_root: str | Path,
    *,
    protocol: str = "semi-supervised",
    sequences: str | Path | Iterable[str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    max_proposals: int = MAX_PROPOSALS,
    meta: str | Path | None = None,
    unseen: str | Path | Iterable[str] | None = None,
) -> DatasetResult:
    """Evaluate the predictions under ``pred_root`` against the ground truth in ``gt_root``.

    Args:
        gt_root: ground-truth folder in one of the layouts of :mod:`vosam.eval.layout`.
        pred_root: ``<pred_root>/<sequence>/<frame>.png``.
        protocol: ``semi-supervised``, ``unsupervised``, ``long-video`` or ``lvos``.
        sequences: names (iterable or comma-separated) or a text file listing them, e.g.
            DAVIS ``ImageSets/2017/val.txt``; default: every ground-truth sequence.
        workers: processes scoring sequences in parallel; default: :func:`default_workers`
            (every CPU of an idle machine, fewer on a busy one). 1 runs in this process.
            Workers start with ``forkserver`` (``spawn`` where that is missing), so a
            script calling this at top level needs the usual
            ``if __name__ == "__main__":`` guard.
        progress: called after each sequence (see :data:`Progress`).
        max_proposals: ``unsupervised`` only: highest predicted id allowed.
        meta: ``lvos`` only: the LVOS meta JSON (default: the ``*_meta.json`` in gt_root).
        unseen: ``lvos`` only: unseen video names or a file listing them (default:
            ``gt_root/unseen_videos.txt`` when present).

    Returns:
        The results; ``summary`` holds the seven DAVIS figures as fractions.

    Raises:
        LayoutError: no ground truth found, or an unknown sequence name.
        MissingPredictionError: a sequence folder or a scored frame's mask is missing.
        UnknownObjectError: a prediction holds an id that is not a ground-truth object.
        MaskSizeError, MaskError: a mask has the wrong size or cannot be read.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    gt_root, pred_root = Path(gt_root), Path(pred_root)
    if not pred_root.is_dir():
        raise MissingPredictionError(pred_root, "prediction folder does not exist")
    names = parse_sequence_list(sequences)
    jobs = _jobs(gt_root, pred_root, protocol, names, max_proposals, meta, unseen)
    _check_predictions(jobs)
    results = _run_all(jobs, workers, progress)
    if protocol == "lvos":
        summary, extra = lvos_summary(results)
    else:
        summary, extra = summary_of(o for seq in results for o in seq.objects), {}
    return DatasetResult(protocol, tuple(results), summary, extra)


def _run_all(
    jobs: list[_Job], workers: int | None, progress: Progress | None
) -> list[SequenceResult]:
    total = len(jobs)
    n_workers = min(workers or default_workers(), total)
    results: list[SequenceResult | None] = [None] * total
    if n_workers > 1 and not _workers_can_start():
        log.warning("main script is not a file: evaluating in this process only")
        n_workers = 1
    if n_workers <= 1:
        for i, job in enumerate(jobs):
            results[i] = job.run()
            if progress:
                progress(i + 1, total, job.name)
        return results  # type: ignore[return-value]
    # longest sequences first keeps both processes busy until the end
    order = sorted(range(total), key=lambda i: -len(jobs[i].frames))
    with ProcessPoolExecutor(n_workers, _pool_context()) as pool:
        pending = {pool.submit(_run_job, jobs[i]): i for i in order}
        done_count = 0
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                out = fut.result()
                if isinstance(out, _Failure):
                    pool.shutdown(wait=True, cancel_futures=True)
                    out.raise_it()
                results[i] = out
                done_count += 1
                if progress:
                    progress(done_count, total, jobs[i].name)
    return results  # type: ignore[return-value]
