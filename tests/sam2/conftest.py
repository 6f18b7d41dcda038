"""Fixtures of the SAM 2 engine tests: tiny random-weight models built by sam2's builders."""

from __future__ import annotations

import pytest

from tests.threads import one_thread  # noqa: F401 (autouse fixture)

sam2 = pytest.importorskip("sam2", reason="the sam2 extra is not installed")
