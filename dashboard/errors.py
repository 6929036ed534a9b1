"""One JSON error shape for the whole API: {"error": {"code", "message", "fields"?}}."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from aitrader.errors import ServiceError


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The request body is too large."


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail)


def _field_errors(detail) -> dict[str, list[str]]:
    if not isinstance(detail, dict):
        return {}
    return {field: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for field, msgs in detail.items()}


def api_exception_handler(exc, context):
    """Render service errors and DRF errors in one shape; unknown errors stay 500s for logging."""
    if isinstance(exc, ServiceError):
        body = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["fields"] = {exc.field: [exc.message]}
        # Rate limits (429) and a rate-limit store that is down (503) say when to come back.
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return Response({"error": body}, status=exc.status_code, headers=headers)
    if isinstance(exc, Http404):  # DRF converts these too, but the code comes from `exc`
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):  # Django refused to read past the upload limit
        exc = BodyTooLarge()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    body = {"code": getattr(exc, "default_code", "error"), "message": _first_message(detail)}
    fields = _field_errors(detail) if response.status_code == status.HTTP_400_BAD_REQUEST else {}
    if fields and "non_field_errors" not in fields:
        body["fields"] = fields
        name, messages = next(iter(fields.items()))
        body["message"] = f"{name}: {messages[0]}"
    response.data = {"error": body}
    return response
