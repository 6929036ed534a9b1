"""DRF authentication: API keys (Bearer or X-API-Key) and signed-in browser sessions.

Both put an Actor in `request.auth`; permissions and services work from it alone.
"""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed

from aitrader.log_context import bind
from dashboard.net import client_ip, user_agent
from tenants.actors import Actor
from tenants.models import ApiKey
from tenants.selectors import key_creator_role
from tenants.services import api_key_authenticate


def presented_key(meta: dict) -> str | None:
    """The API key a request carries in `Authorization: Bearer` or `X-API-Key`, if any."""
    header = meta.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = meta.get("HTTP_X_API_KEY", "").strip()
    return key or None


def key_actor(api_key: ApiKey, meta: dict) -> Actor:
    """The Actor of a presented key, capped by what its creator may do today."""
    return Actor.for_key(api_key, creator_role=key_creator_role(api_key=api_key),
                         ip=client_ip(meta), user_agent=user_agent(meta))


class ApiKeyAuthentication(BaseAuthentication):
    """A tenant API key; a presented but invalid key is a 401, never a fall-through."""

    def authenticate(self, request):
        raw = presented_key(request.META)
        if raw is None:
            return None
        api_key = api_key_authenticate(raw)
        if api_key is None:
            raise AuthenticationFailed("The API key is invalid, expired or revoked.")
        bind(tenant_id=api_key.tenant_id)
        return AnonymousUser(), key_actor(api_key, request.META)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="aitrader"'


class TenantSessionAuthentication(SessionAuthentication):
    """A signed-in user acting in the tenant chosen in their session (CSRF enforced)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        membership = getattr(request._request, "membership", None)
        if membership is None:
            return None
        actor = Actor.for_member(membership, via="web", ip=client_ip(request.META),
                                 user_agent=user_agent(request.META))
        return result[0], actor
