"""JSON documents from users with their nesting bounded.

Python's decoder recurses once per level: a file of 100,000 ``[`` raises ``RecursionError``,
and a document a few hundred levels deep can still make later code (a ``repr`` in an error
message, numpy) recurse too far. Every JSON file vosam reads goes through
:func:`parse_json`, which refuses documents nested deeper than :data:`MAX_DEPTH` with a
:class:`json.JSONDecodeError` (a ``ValueError``), like any other malformed JSON.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100
"""The deepest nesting of lists and objects accepted (vosam's formats need fewer than 10)."""


def parse_json(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, refusing documents nested deeper than ``max_depth``.

    Raises:
        json.JSONDecodeError: malformed JSON, or nested too deeply.
    """
    too_deep = json.JSONDecodeError(f"nested more than {max_depth} levels deep", text, 0)
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep from None
    # fewer brackets than the bound cannot nest deeper than it
    if text.count("[") + text.count("{") > max_depth and _depth(value) > max_depth:
        raise too_deep
    return value


def _depth(value: Any) -> int:
    """Nesting depth of lists and dicts in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest
