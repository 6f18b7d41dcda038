"""Strict loading of official Cutie checkpoints.

A checkpoint is a plain state dict (``cutie-base-mega.pth``, ``cutie-small-mega.pth`` and
the other release files). The network's widths are read from its weight shapes; then every
name and shape must match the network built from them, or
:class:`~vosam.errors.CheckpointError` lists what differs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from vosam.engines.cutie.arch import CutieArch
from vosam.engines.cutie.network import CutieNetwork
from vosam.engines.state_dict import read_tensor_dict, state_dict_problems
from vosam.errors import CheckpointError

log = logging.getLogger(__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` onto the CPU (tensors only, no pickled code)."""
    return read_tensor_dict(
        path,
        kind="a Cutie .pth",
        malformed="is not a plain state dict of tensors (name -> tensor)",
    )


def check_state_dict(
    state: Mapping[str, torch.Tensor], path: str | Path | None = None
) -> CutieArch:
    """Read the architecture of ``state`` and check it strictly.

    Raises:
        CheckpointError: names missing or unexpected, or shapes that differ from the network
            the widths describe. The message lists them.
    """
    try:
        candidates = [CutieArch.from_state_dict(state)]
    except (KeyError, IndexError, ValueError) as exc:
        # a tensor the widths are read from is missing or odd: report against the official
        # size the file is closest to
        log.debug("cannot read Cutie widths: %s", exc)
        candidates = [CutieArch.base(), CutieArch.small()]
    found = []
    for arch in candidates:
        with torch.device("meta"):  # names and shapes only, no weights allocated
            expected = CutieNetwork(arch).state_dict()
        found.append((_count(expected, state), state_dict_problems(expected, state), arch))
    _, problems, arch = min(found, key=lambda f: f[0])
    if problems:
        raise CheckpointError(path, "not a Cutie checkpoint: " + "; ".join(problems))
    return arch


def _count(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> int:
    """How many tensors keep ``state`` from loading where ``expected`` is wanted."""
    wrong = sum(1 for k, v in expected.items() if k in state and state[k].shape != v.shape)
    return len(set(expected) ^ set(state)) + wrong


def network_from_state_dict(
    state: Mapping[str, torch.Tensor], path: str | Path | None = None
) -> CutieNetwork:
    """An eval-mode :class:`CutieNetwork` holding exactly ``state``."""
    arch = check_state_dict(state, path)
    net = CutieNetwork(arch)
    net.load_state_dict(state, strict=True)
    log.info(
        "Cutie weights%s: %s pixel encoder, C_k=%d C_v=%d",
        f" from {path}" if path else "",
        "ResNet-50" if arch.pixel_block == "bottleneck" else "ResNet-18",
        arch.key_dim,
        arch.value_dim,
    )
    return net.eval()


def load_network(path: str | Path) -> CutieNetwork:
    """Load an official Cutie checkpoint file strictly (on the CPU, eval mode)."""
    return network_from_state_dict(read_state_dict(path), path)
