"""Strict comparison of a checkpoint's state dict with the one a model expects."""

from __future__ import annotations

from collections.abc import Mapping

import torch

# names listed per kind of problem before "and N more"
SHOWN = 8


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
