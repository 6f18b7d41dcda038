"""Fields of the app's JSON requests, checked before use: each wrong value is refused with
a one-line :class:`FieldError` (HTTP 400) naming the field and what it must be.

Numbers must be finite JSON numbers (``NaN`` and ``Infinity`` are not JSON and are refused
by :func:`parse_json`), integers are not booleans, and coordinates lie on the frame.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vosam.errors import InputError

MAX_DIGITS = 18  # longest integer literal taken; longer ones are refused unread
MAX_INDEX = 10**9
_MISSING = object()


class FieldError(InputError):
    """A request field with a wrong value."""

    def __init__(self, problem: str) -> None:
        super().__init__(None, problem)


def parse_json(raw: bytes) -> dict[str, Any]:
    """A request body: one JSON object, strictly JSON (no ``NaN``, ``Infinity``, no integer
    literal of more than :data:`MAX_DIGITS` digits). An empty body is ``{}``."""

    def constant(name: str) -> Any:
        raise FieldError(f"bad JSON: {name} is not a JSON number")

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > MAX_DIGITS:
            raise FieldError(f"bad JSON: an integer has more than {MAX_DIGITS} digits")
        return int(text)

    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_constant=constant, parse_int=integer)
    except json.JSONDecodeError as e:
        raise FieldError(f"bad JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except UnicodeDecodeError:
        raise FieldError("bad JSON: the body is not UTF-8 text") from None
    except RecursionError:
        raise FieldError("bad JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise FieldError(f"expected a JSON object, got {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(
    data: dict[str, Any], key: str, *, low: int = 0, high: int = MAX_INDEX, default: Any = _MISSING
) -> int:
    """``data[key]`` as an integer in ``low..high``; ``default`` when absent (if given)."""
    value = data.get(key, default)
    if value is _MISSING:
        raise FieldError(f"'{key}' is missing: give an integer from {low} to {high}")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(f"'{key}' must be an integer from {low} to {high}, not {_kind(value)}")
    return value


def number(
    data: dict[str, Any], key: str, *, low: float, high: float, default: Any = _MISSING
) -> float:
    """``data[key]`` as a finite number in ``low..high`` (``low`` itself excluded when 0)."""
    value = data.get(key, default)
    if value is _MISSING:
        raise FieldError(f"'{key}' is missing: give a number from {low:g} to {high:g}")
    ok = _is_number(value) and math.isfinite(value) and low <= value <= high
    if not ok or (low == 0 and value == 0):
        bound = "above 0" if low == 0 else f"from {low:g}"
        raise FieldError(f"'{key}' must be a number {bound} to {high:g}, not {_kind(value)}")
    return float(value)


def text(data: dict[str, Any], key: str, *, default: str = "", longest: int = 4096) -> str:
    """``data[key]`` as a string without NUL characters; ``default`` when absent or null."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise FieldError(f"'{key}' must be a string, not {_kind(value)}")
    if "\x00" in value:
        raise FieldError(f"'{key}' holds a NUL character")
    if len(value) > longest:
        raise FieldError(f"'{key}' is longer than {longest} characters")
    return value


def flag(data: dict[str, Any], key: str) -> bool:
    """``data[key]`` as a boolean; False when absent or null."""
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise FieldError(f"'{key}' must be true or false, not {_kind(value)}")
    return value


def points(data: dict[str, Any], key: str, *, most: int) -> list[tuple[float, float]]:
    """``data[key]``: a list of at most ``most`` ``[x, y]`` pixel positions, finite numbers;
    ``[]`` when absent or null. :func:`on_frame` checks them against a frame's size."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(f"'{key}' must be a list of [x, y] points, not {_kind(value)}")
    if len(value) > most:
        raise FieldError(f"'{key}' has {len(value)} points; at most {most} are taken")
    out = []
    for i, point in enumerate(value):
        if not (isinstance(point, list) and len(point) == 2 and all(map(_is_number, point))):
            raise FieldError(f"'{key}'[{i}] must be an [x, y] pair of numbers")
        if not all(math.isfinite(v) for v in point):
            raise FieldError(f"'{key}'[{i}] holds a non-finite number")
        out.append((float(point[0]), float(point[1])))
    return out


def labels(data: dict[str, Any], key: str, count: int) -> list[int]:
    """``data[key]``: ``count`` click labels, each 1 (positive) or 0 (negative)."""
    value = data.get(key)
    if value is None:
        value = []
    if not isinstance(value, list):
        raise FieldError(f"'{key}' must be a list of 0 and 1, not {_kind(value)}")
    if len(value) != count:
        raise FieldError(f"'{key}' has {len(value)} labels for {count} points")
    for i, label in enumerate(value):
        if isinstance(label, bool) or not isinstance(label, int) or label not in (0, 1):
            raise FieldError(f"'{key}'[{i}] must be 1 (positive) or 0 (negative)")
    return [int(label) for label in value]


def box(data: dict[str, Any], key: str) -> tuple[float, float, float, float] | None:
    """``data[key]``: ``[x0, y0, x1, y1]``, finite, with ``x0 <= x1`` and ``y0 <= y1``;
    None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(map(_is_number, value))):
        raise FieldError(f"'{key}' must be [x0, y0, x1, y1], four numbers")
    if not all(math.isfinite(v) for v in value):
        raise FieldError(f"'{key}' holds a non-finite number")
    x0, y0, x1, y1 = (float(v) for v in value)
    if x0 > x1 or y0 > y1:
        raise FieldError(f"'{key}' must have x0 <= x1 and y0 <= y1, not {_list(value)}")
    return x0, y0, x1, y1


def on_frame(key: str, pairs: list[tuple[float, float]], size: tuple[int, int]) -> None:
    """Every ``(x, y)`` of ``pairs`` must lie on a frame of ``size`` ``(H, W)``:
    ``0 <= x <= W`` and ``0 <= y <= H``."""
    h, w = size
    for i, (x, y) in enumerate(pairs):
        if not (0 <= x <= w and 0 <= y <= h):
            raise FieldError(f"'{key}'[{i}] = {_list((x, y))} is not on the {w}×{h} frame")


def _list(values) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def index_in_path(text: str, what: str) -> int:
    """An index from the URL path (digits only, as routed), at most :data:`MAX_INDEX`."""
    if len(text) > len(str(MAX_INDEX)) or int(text) > MAX_INDEX:
        raise FieldError(f"{what} {text[:12]}{'…' if len(text) > 12 else ''} is out of range")
    return int(text)
