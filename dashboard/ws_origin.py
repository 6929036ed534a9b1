"""/ws/live's Origin check: the page's own origin, exactly, or a configured trusted one.

Channels' AllowedHostsOriginValidator compares only the host, so `http://localhost:9999`
passed for a site on `http://localhost:8000`. Here scheme, host and port must all match: the
origin the socket was opened from must be the origin of the request itself (its Host header,
which must be an allowed host, with the scheme the request arrived on) or one of
CSRF_TRUSTED_ORIGINS. Anything else is refused at the handshake, before any credential is read.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from dashboard.net import is_trusted_proxy

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    return scheme, host.lower(), port or DEFAULT_PORTS.get(scheme, 0)


def parse_origin(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin such as `https://example.com:8443`, else None."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return _origin(parts.scheme, parts.hostname, port)


def _headers(scope: dict) -> dict[str, str]:
    return {name.decode("latin1").lower(): value.decode("latin1")
            for name, value in scope.get("headers", [])}


def _request_scheme(scope: dict, headers: dict[str, str]) -> str:
    """https when the socket arrived over TLS, or through a trusted proxy that says so."""
    if scope.get("scheme") == "wss":
        return "https"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    peer = (scope.get("client") or (None,))[0]
    if proxy_header and is_trusted_proxy(peer):
        name, secure_value = proxy_header
        header = name.removeprefix("HTTP_").replace("_", "-").lower()
        if headers.get(header, "").split(",")[0].strip() == secure_value:
            return "https"
    return "http"


def request_origin(scope: dict) -> tuple[str, str, int] | None:
    """The origin the socket's own request names (Host header, else the server address)."""
    headers = _headers(scope)
    host = headers.get("host")
    if host is None and scope.get("server"):
        server_host, server_port = scope["server"][:2]
        host = f"{server_host}:{server_port}"
    if not host:
        return None
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = _request_scheme(scope, headers)
    return _origin(scheme, domain, int(port) if port else None)


def origin_allowed(scope: dict) -> bool:
    """Whether the socket's Origin header is the request's own origin or a trusted one."""
    presented = parse_origin(_headers(scope).get("origin", ""))
    if presented is None:
        return False
    trusted = {parse_origin(origin) for origin in settings.CSRF_TRUSTED_ORIGINS}
    return presented == request_origin(scope) or presented in trusted


class SameOriginValidator:
    """ASGI middleware: refuse a WebSocket whose Origin is not exactly an allowed one."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
