"""How many threads numpy's BLAS may use beside torch.

vosam's heavy work runs in torch; numpy's BLAS (OpenBLAS in the numpy wheels) only sees
small matrices (ridge fits, principal components, Gram matrices of a frame's features).
OpenBLAS starts one spinning thread per core for each of them, which fights torch's own
threads for the same cores: on 2 busy cores the embedded segmenter's 400 × 400 ``eigh``
took 7 s with OpenBLAS's default threads and 0.2 s with one. ``import vosam`` therefore
calls :func:`limit_blas_threads` unless ``OPENBLAS_NUM_THREADS`` is set: set it (before
importing vosam) to keep another thread count.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["limit_blas_threads"]

log = logging.getLogger(__name__)


def limit_blas_threads(limit: int = 1) -> None:
    """Cap OpenBLAS (numpy's, scipy's, OpenCV's copies) at ``limit`` threads: the copies
    loaded now, and through ``OPENBLAS_NUM_THREADS`` those loaded later. Nothing is changed
    when ``OPENBLAS_NUM_THREADS`` is already set (the user's choice). torch's thread count
    (``torch.set_num_threads``) is not affected."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    os.environ["OPENBLAS_NUM_THREADS"] = str(limit)
    if any(name in sys.modules for name in ("numpy", "scipy", "cv2")):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=limit, user_api="blas")
    log.debug("OpenBLAS limited to %d thread(s)", limit)
