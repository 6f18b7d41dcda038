"""Fixtures of the XMem tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from xmem_helpers import square_video


@pytest.fixture
def video() -> tuple[list[np.ndarray], list[np.ndarray]]:
    return square_video()


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors run fastest on one thread (and do not fight other processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
