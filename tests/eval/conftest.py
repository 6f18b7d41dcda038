"""Fixtures of the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalhelpers import DATA


@pytest.fixture
def data_root() -> Path:
    if not (DATA / "davis2016-train").is_dir():
        pytest.skip(f"development data not found at {DATA}")
    return DATA
