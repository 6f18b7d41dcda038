"""numpy's BLAS is held to one thread once vosam is imported, unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import numpy\n"
    "from threadpoolctl import threadpool_info\n"
    "blas = lambda: [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
    "before = blas()\n"
    "import vosam, scipy.linalg, cv2  # loaded after vosam: held by the environment\n"
    "print(max(before), *blas())\n"
)


def probe(**env: str) -> list[int]:
    clean = {k: v for k, v in os.environ.items() if "NUM_THREADS" not in k}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return [int(n) for n in done.stdout.split()]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing to limit")
def test_importing_vosam_limits_every_openblas_to_one_thread():
    before, *after = probe()
    assert before > 1 and len(after) >= 2 and set(after) == {1}


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing to limit")
def test_an_explicit_openblas_thread_count_is_kept():
    before, *after = probe(OPENBLAS_NUM_THREADS="2")
    assert before == 2 and set(after) == {2}
