"""OpenAPI post-processing: every operation documents the errors it can answer with.

drf-spectacular documents the success response of each view; the errors come from shared
places (authentication, permissions, throttling, plan gates, the parser, the exception
handler), so they are added here, once, in the API's one error shape.
"""
from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {"type": "object",
                       "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
    }},
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
DESCRIPTIONS = {
    "400": "Invalid input (a field, a filter or the ordering); `fields` names the input.",
    "401": "No valid credential.",
    "402": "The workspace's plan does not include this; the message names a plan that does.",
    "403": "The credential lacks the scope or role this needs.",
    "404": "No such object in this workspace (the same answer for another workspace's).",
    "409": "The object's state does not allow this (a duplicate name, say).",
    "413": "The request body is too large.",
    "429": "Rate limited; Retry-After says when to come back.",
    "503": "The rate-limit store is unreachable; retry later.",
}
EVERY_OPERATION = ("400", "401", "403", "429", "503")
WRITES = ("402", "404", "409", "413")
WRITE_METHODS = ("post", "put", "patch", "delete")


def _statuses(path: str, method: str) -> tuple[str, ...]:
    statuses = EVERY_OPERATION
    if "{" in path:
        statuses += ("404",)
    if method in WRITE_METHODS:
        statuses += WRITES
    elif "export" in path:
        statuses += ("402",)
    return tuple(dict.fromkeys(statuses))


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: add the error responses and schema."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method):
                responses.setdefault(status, {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": ERROR_REF}}})
    return result
