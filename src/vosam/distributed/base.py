"""The executor interface: run one task per sequence on a pool of workers.

A *worker* is an object built once per process (it holds the loaded model) and called once
per task: ``worker(task) -> result``. An :class:`Executor` receives a picklable zero-argument
``make_worker`` and the tasks, builds as many workers as it runs in parallel, and returns the
results in task order. Backends are chosen by name (:func:`build_executor`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from vosam.errors import InputError, VosamError

Task = TypeVar("Task")
Result = TypeVar("Result")


class Worker(Protocol[Task, Result]):
    """Built once per worker process; called once per task."""

    def __call__(self, task: Task) -> Result: ...


OnResult = Callable[[int, Any], None]
"""Called in the driver after each task with (index of the task, its result)."""


class Executor(ABC):
    """Runs tasks on workers; a context manager that releases its resources on exit."""

    name: str = ""

    @abstractmethod
    def run(
        self,
        make_worker: Callable[[], Worker],
        tasks: Sequence[Any],
        *,
        on_result: OnResult | None = None,
    ) -> list[Any]:
        """Run ``make_worker()(task)`` for every task; results in the order of ``tasks``.

        ``make_worker`` must be picklable for backends that run elsewhere (a module-level
        class or a ``functools.partial`` of one). A :class:`~vosam.errors.VosamError` raised by
        a worker is raised here, with its path and problem.
        """

    def close(self) -> None:
        """Release workers and connections (nothing for the local backend)."""
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Failure:
    """A :class:`~vosam.errors.VosamError` raised in a worker, carried back as plain data
    (exception classes with custom constructors do not always survive pickling)."""

    kind: type
    path: str | None
    problem: str
    message: str

    @classmethod
    def of(cls, exc: VosamError) -> Failure:
        if isinstance(exc, InputError):
            path = None if exc.path is None else str(exc.path)
            return cls(type(exc), path, exc.problem, str(exc))
        return cls(type(exc), None, str(exc), str(exc))

    def raise_it(self) -> None:
        if issubclass(self.kind, InputError):
            raise self.kind(self.path, self.problem)
        raise self.kind(self.message)


def call_worker(worker: Worker, task: Any) -> Any:
    """``worker(task)``, with a deliberate vosam error returned as a :class:`Failure`."""
    try:
        return worker(task)
    except VosamError as exc:
        return Failure.of(exc)


def available_executors() -> tuple[str, ...]:
    """Names accepted by :func:`build_executor`."""
    from vosam import registry

    return tuple(sorted(registry.names("executor")))


def register_executor(name: str, target: str) -> None:
    """Register ``"module:class"`` as the executor backend ``name``."""
    from vosam import registry

    registry.register("executor", name, target)


def build_executor(name: str = "local", **options: Any) -> Executor:
    """Build the executor called ``name`` (``local`` or ``ray``).

    Options go to the backend: ``workers`` for both; ``address``, ``cpus_per_task``,
    ``gpus_per_task``, ``max_attempts`` for ``ray`` (see
    :class:`~vosam.distributed.ray_backend.RayOptions`). Options a backend does not use and
    that are None are dropped, so a CLI can pass all of them.
    """
    from vosam import registry

    backend = registry.load("executor", name)
    return backend(**{k: v for k, v in options.items() if v is not None})
