"""Resolves the signed-in user's current tenant for pages and session-authenticated API calls."""
from __future__ import annotations

from tenants.selectors import membership_get_for_user

SESSION_TENANT_KEY = "tenant_id"


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
        return self.get_response(request)
