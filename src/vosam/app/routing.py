"""The API's route table: which handler answers ``METHOD /path``, with which path arguments
and what body it takes. The routes themselves are listed in :mod:`vosam.app.api`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from vosam.app.guards import HTTPError

JSON = "application/json"
RAW = "application/octet-stream"


@dataclass(frozen=True)
class Route:
    """``handler(request, *groups)`` answers ``method`` on paths matching ``pattern``.

    Attributes:
        body: the content type a POST must declare (``application/json``, or
            ``application/octet-stream`` for raw uploads).
        needs_session: answered only within this browser's session (all routes but the one
            that makes the session).
    """

    method: str
    pattern: str
    handler: Callable[..., None]
    body: str = JSON
    needs_session: bool = True
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))


def match(routes: tuple[Route, ...], method: str, path: str) -> tuple[Route, tuple[str, ...]]:
    """The route of ``method path`` and its path arguments.

    Raises:
        HTTPError: 405 when the path takes other methods, 404 when no route has it.
    """
    allowed = []
    for route in routes:
        found = route.regex.fullmatch(path)
        if found:
            if route.method == method:
                return route, found.groups()
            allowed.append(route.method)
    if allowed:
        raise HTTPError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {' or '.join(allowed)}")
    raise HTTPError(HTTPStatus.NOT_FOUND, f"no such page: {path[:200]}")
