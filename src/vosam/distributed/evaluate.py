"""The DAVIS / long-video / LVOS evaluation with one executor task per sequence.

Each task scores one sequence with :func:`vosam.eval.evaluate_dataset` (so the numbers are
exactly those of ``vosam eval``); the driver gathers the per-sequence results and computes
the dataset summary. Workers need the ground truth and predictions at the same paths (a
shared file system on a cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from vosam.distributed.base import Executor


@dataclass(frozen=True)
class ScoreWorker:
    """Scores one sequence: ``worker(name) -> SequenceResult``.

    Attributes mirror :func:`vosam.eval.evaluate_dataset`'s arguments.
    """

    gt_root: Path
    pred_root: Path
    protocol: str = "semi-supervised"
    max_proposals: int | None = None
    meta: str | None = None
    unseen: tuple[str, ...] | str | None = None

    def __call__(self, name: str) -> Any:
        from vosam.eval import evaluate_dataset

        extra: dict[str, Any] = {}
        if self.max_proposals is not None:
            extra["max_proposals"] = self.max_proposals
        result = evaluate_dataset(
            self.gt_root,
            self.pred_root,
            protocol=self.protocol,
            sequences=[name],
            workers=1,
            meta=self.meta,
            unseen=self.unseen,
            **extra,
        )
        return result.sequences[0]


def evaluate_dataset_with(
    executor: Executor,
    gt_root: str | Path,
    pred_root: str | Path,
    *,
    protocol: str = "semi-supervised",
    sequences: str | Path | Iterable[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    max_proposals: int | None = None,
    meta: str | Path | None = None,
    unseen: str | Path | Iterable[str] | None = None,
) -> Any:
    """:func:`vosam.eval.evaluate_dataset` with each sequence scored as an executor task.

    Arguments as there; ``progress`` is called after each sequence with (done, total, name).
    Returns the same :class:`~vosam.eval.DatasetResult`.

    Raises:
        The errors of :func:`vosam.eval.evaluate_dataset`, from whichever worker met them.
    """
    from vosam.eval import DatasetResult, MissingPredictionError, summary_of
    from vosam.eval.layout import find_ground_truth, parse_sequence_list
    from vosam.eval.lvos import lvos_summary

    gt_root, pred_root = Path(gt_root), Path(pred_root)
    if not pred_root.is_dir():
        raise MissingPredictionError(pred_root, "prediction folder does not exist")
    names = parse_sequence_list(sequences)
    if names is None:
        names = sorted(find_ground_truth(gt_root, protocol=protocol))
    if unseen is not None and not isinstance(unseen, (str, Path)):
        unseen = tuple(unseen)
    make = partial(
        ScoreWorker,
        gt_root.resolve(),
        pred_root.resolve(),
        protocol,
        max_proposals,
        _absolute(meta),
        _absolute(unseen) if isinstance(unseen, (str, Path)) else unseen,
    )
    done = 0

    def report(i: int, _result: Any) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(names), names[i])

    results = executor.run(make, names, on_result=report)
    if protocol == "lvos":
        summary, extra = lvos_summary(results)
    else:
        summary, extra = summary_of(o for seq in results for o in seq.objects), {}
    return DatasetResult(protocol, tuple(results), summary, extra)


def _absolute(spec: str | Path | None) -> str | None:
    """An existing file as an absolute path (workers may run in another folder)."""
    if spec is None:
        return None
    return str(Path(spec).resolve()) if Path(spec).exists() else str(spec)
