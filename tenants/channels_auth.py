"""WebSocket authentication: the session cookie for browsers, an API key header for programs.

The key is read from `Authorization: Bearer` or `X-API-Key` only, never the query string,
where it would end up in proxy logs. The resolved Actor is put in `scope["actor"]`.
"""
from __future__ import annotations

import time

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async

from dashboard.security import session_is_current
from tenants.actors import Actor
from tenants.authentication import presented_key
from tenants.net import client_ip, user_agent
from tenants.selectors import membership_get_for_user
from tenants.services import api_key_authenticate


def _meta_from_scope(scope: dict) -> dict:
    meta = {}
    for name, value in scope.get("headers", []):
        key = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
        meta[key] = value.decode("latin1")
    client = scope.get("client") or (None, None)
    meta["REMOTE_ADDR"] = client[0] or ""
    return meta


@database_sync_to_async
def _resolve_actor(scope: dict) -> Actor | None:
    meta = _meta_from_scope(scope)
    raw = presented_key(meta)
    if raw is not None:
        api_key = api_key_authenticate(raw)
        if api_key is None:
            return None
        return Actor.for_key(api_key, ip=client_ip(meta), user_agent=user_agent(meta))
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None
    session = scope.get("session") or {}
    if not session_is_current(session, int(time.time())):  # idle or past its lifetime
        return None
    membership = membership_get_for_user(user=user, tenant_id=session.get("tenant_id"))
    if membership is None:
        return None
    return Actor.for_member(membership, via="web", ip=client_ip(meta), user_agent=user_agent(meta))


class ActorMiddleware:
    """Adds `scope["actor"]` (None when no valid credential was presented)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        scope["actor"] = await _resolve_actor(scope)
        return await self.inner(scope, receive, send)


def TenantAuthMiddlewareStack(inner):  # noqa: N802 (named like Channels' own stacks)
    """Session + user (Channels) then the tenant Actor."""
    return AuthMiddlewareStack(ActorMiddleware(inner))
