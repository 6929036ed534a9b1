"""Helpers of the security tests: a production environment, both rate-limit stores, a dead
cache, free ports."""
from __future__ import annotations

import base64
import os
import secrets
import socket

import pytest
from django.core.cache import caches

# Redis runs here and in CI; without REDIS_URL the tests use a database of their own.
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
STORES = {
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
              "LOCATION": "rate-limit-tests"},
    "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
              "LOCATION": REDIS_URL, "KEY_PREFIX": "aitrader-test"},
}


def free_port() -> int:
    """A TCP port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(tmp_path) -> dict[str, str]:
    """Every value production settings require, as a deployment would set them."""
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "aitrader.settings.production",
        "AITRADER_VAR_DIR": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "trade.example.com",
        "DATABASE_URL": "postgres://aitrader:pw@db.internal:5432/aitrader",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "AITRADER_API_KEY_PEPPERS": f"1:{secrets.token_urlsafe(40)}",
        "AITRADER_VAULT_KEYS": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
    }


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.services)])
def rate_limit_store(request, settings) -> str:
    """Each rate-limit store in turn: the embedded default's local-memory cache, counted by
    Django's cache API, and Redis, counted by one script per request."""
    settings.CACHES = {"default": STORES[request.param]}
    caches["default"].clear()
    yield request.param
    caches["default"].clear()


@pytest.fixture
def dead_cache(settings):
    """The shared cache (and so the rate-limit store) pointed at a Redis that is not there."""
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }}


