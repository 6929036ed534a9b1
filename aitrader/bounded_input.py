"""Bounds on what a request may carry before anything parses it further.

JSON bodies: at most AITRADER_MAX_JSON_BYTES, nested at most MAX_JSON_DEPTH levels (a
5,000-deep array made the parser raise RecursionError, a 500). Object ids: whole numbers a
database column can hold (a 23-digit id overflowed SQLite's INTEGER, a 500).
"""
from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 32
MAX_OBJECT_ID = 2**63 - 1  # a BIGINT primary key


class InputRefused(ValueError):
    """Input outside the bounds above; the message is safe to show."""


def json_loads_bounded(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON, refusing documents nested deeper than `max_depth` levels."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise InputRefused(f"JSON nested deeper than {max_depth} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputRefused(f"The body is not valid JSON: {exc}") from None
    if _depth_exceeds(value, max_depth):
        raise InputRefused(f"JSON nested deeper than {max_depth} levels.")
    return value


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether `value` nests deeper than `max_depth` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else \
            node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def object_id(raw: Any) -> int | None:
    """`raw` as a positive id a database can hold, else None (treat it as not found)."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_OBJECT_ID else None
