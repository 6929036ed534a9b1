"""The two error classes the core raises; aitrader.errors builds the rest of the family on them.

They live here, not in aitrader.errors, because importing anything under `aitrader` first runs
`aitrader/__init__.py`, which loads the Celery app and Django: the core would no longer be pure.
aitrader.errors re-exports both, so every surface still catches one family.
"""
from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out as asked; the message is safe to show."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(ServiceError):
    """Input that breaks a rule; `field` names the input when there is one."""
