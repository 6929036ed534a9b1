"""Where a request comes from, trusting X-Forwarded-For only from configured proxies."""
from __future__ import annotations

from django.conf import settings


def client_ip(meta: dict) -> str | None:
    """The caller's IP: REMOTE_ADDR, or the address the trusted proxy chain saw.

    With AITRADER_TRUSTED_PROXY_COUNT = n, the n-th address from the right of
    X-Forwarded-For is the client (the proxies append; anything left of it is forgeable).
    """
    remote = meta.get("REMOTE_ADDR") or None
    hops = settings.AITRADER_TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops]


def user_agent(meta: dict) -> str:
    return (meta.get("HTTP_USER_AGENT") or "")[:300]
