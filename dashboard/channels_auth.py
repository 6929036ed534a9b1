"""WebSocket authentication: the session cookie for browsers, an API key header for programs.

The key is read from `Authorization: Bearer` or `X-API-Key` only, never the query string,
where it would end up in proxy logs. The resolved Actor is put in `scope["actor"]`.
"""
from __future__ import annotations

import time
from importlib import import_module

from channels.auth import AuthMiddlewareStack, get_user
from channels.db import database_sync_to_async
from django.conf import settings

from dashboard.apis.authentication import key_actor, presented_key
from dashboard.net import client_ip, user_agent
from dashboard.security import session_is_current
from tenants.actors import Actor
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
        return key_actor(api_key, meta)
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


async def actor_now(scope: dict) -> Actor | None:
    """The caller as its credential stands now: the key read again, the session reloaded
    from its store (a signed-out session no longer exists there)."""
    if presented_key(_meta_from_scope(scope)) is not None:
        return await _resolve_actor(scope)
    session = scope.get("session")
    if session is None or not session.session_key:
        return None
    fresh = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session.session_key)
    fresh_scope = {**scope, "session": fresh}
    fresh_scope["user"] = await get_user(fresh_scope)
    return await _resolve_actor(fresh_scope)


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
