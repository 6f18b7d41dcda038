"""Settings for the whole test suite."""

from __future__ import annotations

import vosam  # noqa: F401  (limits numpy's BLAS to one thread beside torch: vosam.threads)
