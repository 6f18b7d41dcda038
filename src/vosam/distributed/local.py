"""The ``local`` executor: one worker in this process, tasks one after another."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from vosam.distributed.base import Executor, OnResult, Worker

log = logging.getLogger(__name__)


class LocalExecutor(Executor):
    """Runs every task in this process with one worker, built only if there is a task.

    Args:
        workers: accepted for a uniform interface; only 1 is supported (the model is
            loaded once and the machine's cores go to its threads).
    """

    name = "local"

    def __init__(self, *, workers: int = 1) -> None:
        if workers != 1:
            log.warning("the local executor runs one worker; ignoring workers=%d", workers)

    def run(
        self,
        make_worker: Callable[[], Worker],
        tasks: Sequence[Any],
        *,
        on_result: OnResult | None = None,
    ) -> list[Any]:
        results: list[Any] = []
        worker: Worker | None = None
        for i, task in enumerate(tasks):
            worker = worker or make_worker()
            result = worker(task)
            results.append(result)
            if on_result is not None:
                on_result(i, result)
        return results
