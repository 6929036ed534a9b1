"""Request context: the request's id for its log lines, and the signed-in user's current
tenant for pages and session-authenticated API calls."""
from __future__ import annotations

import re
import uuid

from aitrader.log_context import begin, bind
from tenants.selectors import membership_get_for_user

SESSION_TENANT_KEY = "tenant_id"
REQUEST_ID_HEADER = "X-Request-ID"
# An id the proxy sent is kept only when it is short and plain: it ends up in every log line.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Gives each request an id (the proxy's X-Request-ID when sane, else a new one), puts it
    on every log line written for the request and answers it in X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = (offered if _SAFE_REQUEST_ID.fullmatch(offered)
                              else uuid.uuid4().hex)
        begin(request_id=request.request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


class TenantMiddleware:
    """Sets `request.membership` and `request.tenant` (None when signed out or tenantless).

    The tenant comes from the session's choice (the tenant switcher) and falls back to the
    user's first active membership; a removed membership stops working on the next request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        if request.user.is_authenticated:
            request.membership = membership_get_for_user(
                user=request.user, tenant_id=request.session.get(SESSION_TENANT_KEY))
        request.tenant = request.membership.tenant if request.membership else None
        if request.tenant is not None:
            bind(tenant_id=request.tenant.pk)
        return self.get_response(request)
