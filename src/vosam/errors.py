"""Errors raised for bad input. Each names the offending file and the problem."""

from __future__ import annotations

from pathlib import Path


class VosamError(Exception):
    """Base class of every error vosam raises on purpose."""


class InputError(VosamError):
    """A file or folder given by the user cannot be used.

    The message always starts with the path, so a one-line CLI error says where to look:
    ``annotations/00012.png: mask is 640×360 but frames are 854×480``.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class FrameSourceError(InputError):
    """A video or frame folder is unreadable, empty or inconsistent."""


class CorruptFrameError(FrameSourceError):
    """A frame decodes only with the decoder's warnings or errors (damaged data).

    Attributes:
        index: the frame's index in its source.
    """

    def __init__(self, path: str | Path | None, problem: str, *, index: int) -> None:
        self.index = index
        super().__init__(path, problem)


class MaskError(InputError):
    """A mask file is unreadable or does not fit the video."""


class MaskSizeError(MaskError):
    """A mask's size differs from the frames'."""


class OutputError(InputError):
    """An output location cannot be used (not writable, same as the input, mixed runs)."""


class DeviceError(InputError):
    """A requested compute device does not exist on this machine."""


class CheckpointError(InputError):
    """A weights file does not match the network it is loaded into."""


class ModelError(VosamError, ValueError):
    """A model name the catalogue does not know, or a model that cannot serve here (a
    ValueError too, like every other bad value of a run spec)."""


class DownloadError(VosamError):
    """A model could not be fetched; the message names the address and how to place the
    file by hand."""
