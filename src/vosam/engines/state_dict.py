"""Checkpoint files: reading a state dict of tensors, and comparing it strictly with the one a
model expects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from vosam.errors import CheckpointError

# names listed per kind of problem before "and N more"
SHOWN = 8


def read_tensor_dict(
    path: str | Path, *, kind: str, malformed: str, unwrap: str | None = None
) -> dict[str, torch.Tensor]:
    """The state dict stored at ``path``, read onto the CPU (tensors only, no pickled code).

    Args:
        kind: what the file should be, for messages (``"an XMem .pth"``).
        malformed: the problem reported when the file holds no state dict of tensors.
        unwrap: key of the state dict inside the file (``"model"`` for SAM 2), if any.
    Raises:
        CheckpointError: no such file, not a PyTorch file, or no state dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, f"no such file; pass the path of {kind} checkpoint")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(path, f"cannot be read as a PyTorch checkpoint ({exc})") from exc
    if unwrap is not None:
        content = content.get(unwrap) if isinstance(content, Mapping) else None
    if not isinstance(content, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in content.values()
    ):
        raise CheckpointError(path, malformed)
    return dict(content)


def state_dict_problems(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> list[str]:
    """What keeps ``state`` from loading strictly where ``expected`` is wanted.

    Returns one line per kind of problem (missing keys, unexpected keys, shape mismatches),
    each naming the first few tensors; empty when ``state`` matches exactly.
    """
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    return [
        _listing(kind, names)
        for kind, names in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", wrong),
        )
        if names
    ]


def _listing(kind: str, names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{len(names)} {kind}: {', '.join(names[:SHOWN])}{more}"
