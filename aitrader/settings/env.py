"""Typed access to environment variables.

Every setting of the project is read through these helpers so a bad value stops the process
at start-up with a message naming the variable, instead of failing later in a request.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")
_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _read(name: str, default: object, parse: Callable[[str], T], expected: str) -> T:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if default is _MISSING:
            raise ImproperlyConfigured(f"Environment variable {name} is required ({expected}).")
        return default  # type: ignore[return-value]
    try:
        return parse(raw.strip())
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"Environment variable {name}={raw!r} is invalid: expected {expected} ({exc})."
        ) from None


def env_str(name: str, default: object = _MISSING) -> str:
    """A string; required unless a default is given."""
    return _read(name, default, str, "a string")


def env_bool(name: str, default: object = _MISSING) -> bool:
    """A boolean written as 1/0, true/false, yes/no or on/off."""

    def parse(raw: str) -> bool:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("not a boolean")

    return _read(name, default, parse, "one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: object = _MISSING, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An integer, optionally bounded."""

    def parse(raw: str) -> int:
        value = int(raw)
        if minimum is not None and value < minimum:
            raise ValueError(f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be <= {maximum}")
        return value

    return _read(name, default, parse, "an integer")


def env_list(name: str, default: object = _MISSING) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    return _read(name, default, lambda raw: [p.strip() for p in raw.split(",") if p.strip()],
                 "a comma-separated list")


def env_choice(name: str, choices: Sequence[str], default: object = _MISSING) -> str:
    """One value out of a fixed set."""

    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"choose one of {', '.join(choices)}")
        return raw

    return _read(name, default, parse, f"one of {', '.join(choices)}")
