"""Strict loading of official XMem checkpoints.

A checkpoint is a plain state dict (``XMem.pth``, ``XMem-s012.pth``, ``XMem-no-sensory.pth``).
The network's widths are read from its weight shapes; then every name and shape must match
the network built from them, or :class:`~vosam.errors.CheckpointError` lists what differs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from vosam.engines.state_dict import read_tensor_dict, state_dict_problems
from vosam.engines.xmem.arch import XMemArch
from vosam.engines.xmem.network import XMemNetwork
from vosam.errors import CheckpointError

log = logging.getLogger(__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` onto the CPU (tensors only, no pickled code)."""
    return read_tensor_dict(
        path,
        kind="an XMem .pth",
        malformed="is not a plain state dict of tensors (name -> tensor)",
    )


def check_state_dict(state: Mapping[str, torch.Tensor], path: str | Path | None = None) -> XMemArch:
    """Read the architecture of ``state`` and check it strictly.

    Raises:
        CheckpointError: names missing or unexpected, or shapes that differ from the network
            the widths describe. The message lists them.
    """
    try:
        arch = XMemArch.from_state_dict(state)
    except (KeyError, IndexError) as exc:
        log.debug("cannot read XMem widths: %s", exc)
        arch = XMemArch()
    with torch.device("meta"):  # names and shapes only, no weights allocated
        expected = XMemNetwork(arch).state_dict()
    problems = state_dict_problems(expected, state)
    if problems:
        raise CheckpointError(path, "not an XMem checkpoint: " + "; ".join(problems))
    return arch


def network_from_state_dict(
    state: Mapping[str, torch.Tensor], path: str | Path | None = None
) -> XMemNetwork:
    """An eval-mode :class:`XMemNetwork` holding exactly ``state``."""
    arch = check_state_dict(state, path)
    net = XMemNetwork(arch)
    net.load_state_dict(state, strict=True)
    log.info(
        "XMem weights%s: C_k=%d C_v=%d C_h=%d",
        f" from {path}" if path else "",
        arch.key_dim,
        arch.value_dim,
        arch.hidden_dim,
    )
    return net.eval()


def load_network(path: str | Path) -> XMemNetwork:
    """Load an official XMem checkpoint file strictly (on the CPU, eval mode)."""
    return network_from_state_dict(read_state_dict(path), path)
