"""Fixtures of the Cutie tests."""

from __future__ import annotations

from tests.threads import one_thread  # noqa: F401 (autouse fixture)
