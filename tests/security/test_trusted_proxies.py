"""X-Forwarded-* headers count only when a trusted proxy sent them."""
from __future__ import annotations

import pytest
from django.test import RequestFactory

from dashboard.net import client_ip
from dashboard.security import TrustedProxyMiddleware


def _seen_by_the_view(remote_addr: str, **headers) -> dict:
    seen = {}

    def view(request):
        seen.update(secure=request.is_secure(), ip=client_ip(request.META))
        return None

    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)
    TrustedProxyMiddleware(view)(request)
    return seen


@pytest.fixture
def behind_a_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.AITRADER_TRUSTED_PROXY_COUNT = 1
    settings.AITRADER_TRUSTED_PROXIES = ["10.0.0.0/8"]


def test_the_proxys_headers_are_believed(behind_a_proxy):
    seen = _seen_by_the_view("10.1.2.3", HTTP_X_FORWARDED_PROTO="https",
                             HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert seen == {"secure": True, "ip": "203.0.113.9"}


def test_anyone_elses_are_dropped(behind_a_proxy):
    seen = _seen_by_the_view("198.51.100.7", HTTP_X_FORWARDED_PROTO="https",
                             HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert seen == {"secure": False, "ip": "198.51.100.7"}


def test_a_bad_proxy_entry_stops_the_settings_loudly(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import aitrader.settings.base as base
    monkeypatch.setenv("AITRADER_TRUSTED_PROXIES", "10.0.0.0/8,not-an-address")
    with pytest.raises(ImproperlyConfigured, match="not-an-address"):
        importlib.reload(base)
    monkeypatch.delenv("AITRADER_TRUSTED_PROXIES")
    importlib.reload(base)
