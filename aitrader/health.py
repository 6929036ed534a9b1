"""Liveness and readiness probes for supervisors and load balancers."""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1


def _cache_ok() -> bool:
    cache.set("readyz-probe", "1", 5)
    return cache.get("readyz-probe") == "1"


def _broker_ok() -> bool:
    if not settings.REDIS_URL:
        return True  # tasks run in-process: there is no broker to reach
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


CHECKS = {"database": _database_ok, "cache": _cache_ok, "broker": _broker_ok}
# A supervisor waits about a second for an answer: a dependency that has not answered by then
# (a Redis that accepts connections and says nothing) is failing, and the answer goes out.
READYZ_DEADLINE_SECONDS = 0.9
# The network checks run beside the request; the database one runs in it (its connection is
# the request thread's own, and stays there).
_NETWORK_CHECKS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def _outcome(name: str, check) -> str:
    try:
        return "ok" if check() else "failing"
    except Exception as exc:  # any failure of a dependency means "not ready"
        logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return "failing"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, cache and broker answer within the deadline; 503 naming what
    does not."""
    started = time.monotonic()
    pending = {name: _NETWORK_CHECKS.submit(_outcome, name, check)
               for name, check in CHECKS.items() if name != "database"}
    results = {"database": _outcome("database", CHECKS["database"])}
    for name, future in pending.items():
        left = max(READYZ_DEADLINE_SECONDS - (time.monotonic() - started), 0.0)
        try:
            results[name] = future.result(timeout=left)
        except FutureTimeout:
            logger.warning("readiness check %s gave no answer in time", name)
            results[name] = "failing"
    ready = all(value == "ok" for value in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results},
                        status=200 if ready else 503)
