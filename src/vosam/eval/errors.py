"""Errors of the evaluator. Each names the file or folder at fault, as the CLI prints it."""

from __future__ import annotations

from vosam.errors import InputError, MaskError

__all__ = [
    "EvalInputError",
    "LayoutError",
    "MissingPredictionError",
    "ResultsFormatError",
    "UnknownObjectError",
]


class EvalInputError(InputError):
    """Base of the evaluator's input errors; survives pickling across worker processes."""

    def __reduce__(self):
        return (type(self), (self.path, self.problem))


class LayoutError(EvalInputError):
    """A ground-truth or prediction folder does not have a layout the evaluator reads."""


class MissingPredictionError(EvalInputError, MaskError):
    """A frame or sequence that must be scored has no predicted mask."""


class UnknownObjectError(EvalInputError, MaskError):
    """A predicted mask holds an object id the ground truth does not have."""


class ResultsFormatError(EvalInputError):
    """A JSON file (results, ground truth, metadata) is malformed or does not match."""
