"""Errors raised by services; every surface (API, pages, Telegram, CLI) renders them.

A service raises one of these with a message a person can act on. The API maps them to one
JSON shape, pages to a form error or message, the CLI to a one-line error and exit code.
"""
from __future__ import annotations

# The base class and ValidationFailed are defined in the pure trading core, which may import
# nothing under `aitrader` (that would load Celery and Django); this module is their home for
# everyone else.
from trading.core.errors import ServiceError, ValidationFailed

__all__ = ["Conflict", "Forbidden", "NotFound", "PlanLimitExceeded", "ServiceError",
           "ValidationFailed"]


class NotFound(ServiceError):
    """The object does not exist for this tenant (the same answer as for another tenant's)."""

    status_code = 404
    code = "not_found"


class Forbidden(ServiceError):
    """The caller is known but its role or scope does not allow this."""

    status_code = 403
    code = "permission_denied"


class PlanLimitExceeded(ServiceError):
    """The tenant's plan does not allow this; the message names a plan that does."""

    status_code = 402
    code = "plan_limit"


class Conflict(ServiceError):
    """The object is in a state where this action cannot apply."""

    status_code = 409
    code = "conflict"
