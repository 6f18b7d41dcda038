"""Fixtures of the XMem tests."""

from __future__ import annotations

import numpy as np
import pytest
from xmem_helpers import square_video

from tests.threads import one_thread  # noqa: F401 (autouse fixture)


@pytest.fixture
def video() -> tuple[list[np.ndarray], list[np.ndarray]]:
    return square_video()
