"""Where a request comes from, trusting X-Forwarded-* only from configured proxies."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def is_trusted_proxy(address: str | None) -> bool:
    """Whether `address` (a peer's IP) is one of AITRADER_TRUSTED_PROXIES."""
    try:
        peer = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(peer in network
               for network in _networks(tuple(settings.AITRADER_TRUSTED_PROXIES)))


def drop_untrusted_forwarding(meta: dict) -> None:
    """Remove X-Forwarded-* headers a peer that is not a trusted proxy sent: only our proxy
    may say which scheme or client a request had."""
    if not is_trusted_proxy(meta.get("REMOTE_ADDR")):
        for header in FORWARDED_HEADERS:
            meta.pop(header, None)


def client_ip(meta: dict) -> str | None:
    """The caller's IP: REMOTE_ADDR, or the address the trusted proxy chain saw.

    With AITRADER_TRUSTED_PROXY_COUNT = n, the n-th address from the right of
    X-Forwarded-For is the client (the proxies append; anything left of it is forgeable).
    """
    remote = meta.get("REMOTE_ADDR") or None
    hops = settings.AITRADER_TRUSTED_PROXY_COUNT
    if hops <= 0 or not is_trusted_proxy(remote):
        return remote
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops]


def request_ip(request: HttpRequest) -> str:
    """The client IP as the trusted proxy chain reports it: the IP rate limits count against."""
    return client_ip(request.META) or "unknown"


def user_agent(meta: dict) -> str:
    return (meta.get("HTTP_USER_AGENT") or "")[:300]
