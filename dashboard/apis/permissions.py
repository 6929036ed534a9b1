"""DRF permissions: each endpoint names the scope each HTTP method needs."""
from __future__ import annotations

from rest_framework.exceptions import MethodNotAllowed, PermissionDenied
from rest_framework.permissions import BasePermission

from tenants.actors import Actor

READ_METHODS = ("GET", "HEAD", "OPTIONS")


class DenyAll(BasePermission):
    """The default: a view that does not declare its permissions serves nobody."""

    def has_permission(self, request, view) -> bool:
        return False


class TenantScopePermission(BasePermission):
    """Requires an Actor holding the scope `view.scope_map[method]` demands.

    `scope_map` defaults to read for safe methods; views add control / export / admin.
    `session_only = True` refuses API keys (key management is for signed-in admins).
    No credential gives 401 (DRF turns a False here into NotAuthenticated).
    """

    def has_permission(self, request, view) -> bool:
        actor = request.auth
        if not isinstance(actor, Actor):
            return False
        if getattr(view, "session_only", False) and actor.api_key is not None:
            raise PermissionDenied("This endpoint needs a signed-in session, not an API key.")
        scope = required_scope(view, request.method)
        if scope is None:
            if not hasattr(view, request.method.lower()):
                raise MethodNotAllowed(request.method)  # the resource has no such method
            raise PermissionDenied("This method is not allowed here.")
        actor.require(scope)
        minimum_role = getattr(view, "required_role", None)
        if minimum_role and actor.api_key is None:
            actor.require_role(minimum_role)
        return True


def required_scope(view, method: str) -> str | None:
    """The scope `view` asks of `method`; safe methods default to read."""
    scope_map = getattr(view, "scope_map", {})
    if method in scope_map:
        return scope_map[method]
    return "read" if method in READ_METHODS else None
