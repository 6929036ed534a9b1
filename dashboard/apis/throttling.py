"""The API's DRF throttle: spends each request's budget (tenants.throttle) once the caller is
known."""
from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from dashboard.net import request_ip
from tenants.actors import Actor
from tenants.throttle import actor_identities, budget, route_budget, spend


class ApiRateLimit(BaseThrottle):
    """Spends the API request's budget (read, control, export or key creation) for its key
    or user, tenant and IP. Runs after authentication, so the key is known, not guessed."""

    def allow_request(self, request, view) -> bool:
        match = getattr(request, "resolver_match", None)
        name = route_budget(match.view_name if match else None, request.method, api=True)
        actor = request.auth if isinstance(request.auth, Actor) else None
        spend(budget(name), actor_identities(actor, request_ip(request)))
        return True
