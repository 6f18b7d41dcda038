"""Evaluation: DAVIS J/F (semi-supervised, unsupervised), long videos, LVOS, YouTube-VIS.

Public API:

- :func:`evaluate_sequence` — one sequence from masks in memory;
- :func:`evaluate_dataset` — folders of ground truth and predictions, sequences in parallel;
- :func:`evaluate_vis` — YouTube-VIS AP from JSON files;
- :func:`write_report`, :func:`write_vis_report` — summary.json, CSVs, plots;
- :func:`summary_of` — the seven dataset figures over any objects (e.g. in-memory runs);
- per-frame metrics :func:`jaccard`, :func:`f_measure`, :func:`score_frame` and
  statistics :func:`summarize`, :func:`stability`.

Nothing here imports a model.
"""

from __future__ import annotations

from vosam.eval.dataset import evaluate_dataset
from vosam.eval.errors import (
    EvalInputError,
    LayoutError,
    MissingPredictionError,
    ResultsFormatError,
    UnknownObjectError,
)
from vosam.eval.metrics import boundary_map, boundary_tolerance, f_measure, jaccard, score_frame
from vosam.eval.results import (
    SUMMARY_KEYS,
    DatasetResult,
    ObjectResult,
    SequenceResult,
    summary_of,
)
from vosam.eval.sequence import MAX_PROPOSALS, PROTOCOLS, FrameRange, evaluate_sequence
from vosam.eval.stats import Stats, stability, summarize

__all__ = [
    "MAX_PROPOSALS",
    "PROTOCOLS",
    "SUMMARY_KEYS",
    "DatasetResult",
    "EvalInputError",
    "FrameRange",
    "LayoutError",
    "MissingPredictionError",
    "ObjectResult",
    "ResultsFormatError",
    "SequenceResult",
    "Stats",
    "UnknownObjectError",
    "boundary_map",
    "boundary_tolerance",
    "evaluate_dataset",
    "evaluate_sequence",
    "evaluate_vis",
    "f_measure",
    "jaccard",
    "score_frame",
    "stability",
    "summarize",
    "summary_of",
    "write_report",
    "write_vis_report",
]


def __getattr__(name: str):
    # lazy: the VIS evaluator and the report writer pull in pycocotools / matplotlib
    if name == "evaluate_vis":
        from vosam.eval.vis import evaluate_vis

        return evaluate_vis
    if name in ("write_report", "write_vis_report"):
        from vosam.eval import report

        return getattr(report, name)
    raise AttributeError(f"module 'vosam.eval' has no attribute {name!r}")
