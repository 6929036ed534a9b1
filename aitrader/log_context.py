"""Who a log line is about: the request, the tenant and the bot it was written for.

The web layer opens a context per request (its id, then the tenant once it is known), the
engine one per bot it ticks; `LogContextFilter` copies the fields onto every record, so the
production JSON lines carry `request_id`, `tenant_id` and `bot_id` wherever they are known
(null elsewhere) without any call site passing them. Context variables follow a request
through asgiref's threads and a tick through its batch, and never leak between them.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

FIELDS = ("request_id", "tenant_id", "bot_id")
# Never mutated: each block sets a new mapping, so the empty default can be shared.
_context: ContextVar[Mapping[str, object]] = ContextVar("aitrader_log_context",
                                                        default=MappingProxyType({}))


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Inside the block, log records carry `fields` (added to what is already bound)."""
    token = _context.set(MappingProxyType({**_context.get(), **fields}))
    try:
        yield
    finally:
        _context.reset(token)


def begin(**fields: object) -> None:
    """Start a fresh context (a request): only `fields` are bound from now on. It stays set
    after the request's middleware returns, so the handler's own last lines ("Not Found: ...")
    carry it too, and the next request on the thread replaces it."""
    _context.set(MappingProxyType(dict(fields)))


def bind(**fields: object) -> None:
    """Add `fields` for the rest of the current context (e.g. the tenant, once resolved)."""
    _context.set(MappingProxyType({**_context.get(), **fields}))


def current() -> dict[str, object]:
    """The fields bound now."""
    return dict(_context.get())


class LogContextFilter(logging.Filter):
    """Puts the bound fields on each record (a field the call site passed wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get()
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, bound.get(name))
        return True
