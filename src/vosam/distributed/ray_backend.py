"""The ``ray`` executor: a pool of Ray actors, each holding one loaded worker.

Each actor builds its worker once (the model is loaded once per actor, not once per task) and
runs one task at a time with the CPUs and GPUs reserved for it. Tasks go to whichever actor
is free. When an actor dies (its process crashed, was killed, or its node was preempted), it
is replaced by a fresh one and its task is submitted again, up to ``max_attempts`` times in
all; the task's own output handling must make a repeated task safe (the dataset worker
writes into a hidden folder and renames it into place).

``ray`` is imported only when this backend is built, so ``import vosam`` never needs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vosam.distributed.base import Executor, Failure, OnResult, Worker, call_worker
from vosam.errors import VosamError

log = logging.getLogger(__name__)


class WorkerLostError(VosamError):
    """A task's worker died more often than the executor retries it."""


@dataclass(frozen=True)
class RayOptions:
    """How the ``ray`` executor reserves resources.

    Attributes:
        address: cluster to join (``ray://host:10001``, ``host:6379`` or ``auto``); None
            joins the cluster of ``RAY_ADDRESS`` when set, else starts one on this machine.
            A Ray session already started in this process (``ray.init``) is reused as is.
        workers: number of actors (each loads the model once); default: as many as the
            cluster's free CPUs (and GPUs, when ``gpus_per_task`` > 0) allow; never more
            than the whole cluster holds.
        cpus_per_task: CPUs reserved by each actor; its torch thread count as well.
        gpus_per_task: GPUs reserved by each actor (fractions share a GPU).
        max_attempts: runs of one task before giving up when its actor keeps dying.
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.cpus_per_task <= 0 or self.gpus_per_task < 0:
            raise ValueError("cpus_per_task must be > 0 and gpus_per_task >= 0")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


class _PoolActor:
    """Body of one actor: builds the worker once, then runs tasks on it."""

    def __init__(self, make_worker: Callable[[], Worker], threads: int) -> None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:  # a worker that needs no torch
            pass
        self.failure: Failure | None = None
        try:
            self.worker = make_worker()
        except VosamError as exc:  # e.g. a bad checkpoint: report it, do not retry it
            self.failure = Failure.of(exc)

    def run(self, task: Any) -> Any:
        if self.failure is not None:
            return self.failure
        return call_worker(self.worker, task)

    def pid(self) -> int:
        return os.getpid()


class RayExecutor(Executor):
    """Per-task actors on a Ray cluster; see :class:`RayOptions` for the keyword options."""

    name = "ray"

    def __init__(self, **options: Any) -> None:
        import ray

        self.options = RayOptions(**options)
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            # "local" starts a private cluster: plain ray.init() would join any cluster
            # already running on this machine, another user's included
            address = self.options.address or os.environ.get("RAY_ADDRESS") or "local"
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
            self._started = True
        self.actors: list[Any] = []
        self._actor_class: Any = None

    def close(self) -> None:
        self._kill_actors()
        if self._started:
            self._ray.shutdown()
            self._started = False

    def _fit(self, resources: dict[str, float]) -> int:
        """How many actors ``resources`` hold."""
        fit = resources.get("CPU", 0.0) / self.options.cpus_per_task
        if self.options.gpus_per_task > 0:
            fit = min(fit, resources.get("GPU", 0.0) / self.options.gpus_per_task)
        return int(fit + 1e-9)

    def _pool_size(self, n_tasks: int) -> int:
        # an actor the cluster can never place would hold its task forever
        most = self._fit(self._ray.cluster_resources())
        if most < 1:
            raise VosamError(
                f"the Ray cluster cannot hold one worker of {self.options.cpus_per_task} CPUs "
                f"and {self.options.gpus_per_task} GPUs ({self._ray.cluster_resources()})"
            )
        wanted = self.options.workers or max(1, self._fit(self._ray.available_resources()))
        if wanted > most:
            log.warning("the cluster holds %d workers of this size, not %d", most, wanted)
        return max(1, min(wanted, most, n_tasks))

    def _new_actor(self, make_worker: Callable[[], Worker]) -> Any:
        if self._actor_class is None:
            self._actor_class = self._ray.remote(
                num_cpus=self.options.cpus_per_task,
                num_gpus=self.options.gpus_per_task,
                max_restarts=0,
            )(_PoolActor)
        threads = max(1, int(self.options.cpus_per_task))
        return self._actor_class.remote(make_worker, threads)

    def _kill_actors(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []

    def run(
        self,
        make_worker: Callable[[], Worker],
        tasks: Sequence[Any],
        *,
        on_result: OnResult | None = None,
    ) -> list[Any]:
        if not tasks:
            return []
        ray = self._ray
        from ray.exceptions import RayActorError

        size = self._pool_size(len(tasks))
        log.info("ray: %d actors for %d tasks", size, len(tasks))
        self.actors = [self._new_actor(make_worker) for _ in range(size)]
        results: list[Any] = [None] * len(tasks)
        attempts = [0] * len(tasks)
        queue = list(range(len(tasks)))[::-1]  # pop() takes the first task
        running: dict[Any, tuple[int, int]] = {}  # object ref -> (task index, actor slot)
        idle = list(range(size))

        def submit(slot: int, i: int) -> None:
            attempts[i] += 1
            running[self.actors[slot].run.remote(tasks[i])] = (i, slot)

        try:
            while queue or running:
                while queue and idle:
                    submit(idle.pop(), queue.pop())
                ready, _ = ray.wait(list(running), num_returns=1)
                ref = ready[0]
                i, slot = running.pop(ref)
                try:
                    out = ray.get(ref)
                except RayActorError as exc:
                    if attempts[i] >= self.options.max_attempts:
                        cause = " ".join(str(exc).split())[:400]
                        raise WorkerLostError(
                            f"task {i} ({_describe(tasks[i])}) lost its worker "
                            f"{attempts[i]} times; last: {type(exc).__name__}: {cause}"
                        ) from exc
                    log.warning(
                        "worker died running %s (attempt %d); retrying on a new worker",
                        _describe(tasks[i]),
                        attempts[i],
                    )
                    ray.kill(self.actors[slot], no_restart=True)
                    self.actors[slot] = self._new_actor(make_worker)
                    queue.append(i)
                    idle.append(slot)
                    continue
                if isinstance(out, Failure):
                    out.raise_it()
                results[i] = out
                idle.append(slot)
                if on_result is not None:
                    on_result(i, out)
        finally:
            self._kill_actors()
        return results


def _describe(task: Any) -> str:
    name = getattr(task, "name", None)
    return str(name) if name is not None else repr(task)[:80]
