"""The rate-limit key scheme is the project's own: fixed windows, keys computed by
tenants.throttle and written the same in both stores, and no library internals behind them."""
from __future__ import annotations

import ast
import hashlib
import inspect
import time

import pytest
import redis
from django.core.cache import caches

from tenants import throttle
from tests.security.conftest import REDIS_URL

# The documented scheme, spelled out here rather than taken from the module under test.
PREFIX = "aitrader:rl"
WEB_LAYER_MODULES = ("dashboard.apis.throttling", "dashboard.ws_slots")


def _documented_key(budget: str, scope: str, identity: str, period: int, now: int) -> str:
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return f"{PREFIX}:{budget}:{scope}:{period}s:{digest}:{now - now % period}"


def _expected_keys(now: int) -> dict[str, int]:
    """The raw keys three reads by key 7 from 10.0.0.7 write, and the count of each."""
    per_minute = 60
    return {_documented_key("read", scope, identity, period, now): 3
            for scope, identity in (("principal", "key:7"), ("ip", "ip:10.0.0.7"))
            for period in (per_minute, throttle.BURST_SECONDS)}


def _spend_three_reads() -> None:
    read = throttle.budget(throttle.READ)
    for _ in range(3):
        throttle.spend(read, [("principal", "key:7"), ("ip", "ip:10.0.0.7")])


@pytest.mark.services  # a real Redis: run by .ci/run and with REDIS_URL set
@pytest.mark.parametrize("rate_limit_store", ["redis"], indirect=True)
def test_redis_holds_exactly_the_documented_keys(rate_limit_store, frozen_clock):
    _spend_three_reads()
    now = int(time.time())
    cache, store = caches["default"], redis.Redis.from_url(REDIS_URL)
    expected = _expected_keys(now)
    # Only this test's identities: the Redis may be shared with other test runs.
    ours = {hashlib.sha256(identity.encode()).hexdigest()[:32]
            for identity in ("key:7", "ip:10.0.0.7")}
    written = {key.decode() for key in store.scan_iter("aitrader-test:*")
               if any(f":{digest}:" in key.decode() for digest in ours)}
    assert written == {cache.make_key(key) for key in expected}
    for key, count in expected.items():
        # Written by the script, read back through the cache API: the local path's reading.
        assert cache.get(key) == count
        # A bucket lives until its window ends, and a margin.
        assert 0 < store.ttl(cache.make_key(key)) <= 60 + throttle.EXPIRY_MARGIN_SECONDS


def test_local_memory_counts_in_the_same_keys(settings, frozen_clock):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "throttle-key-test"}}
    caches["default"].clear()
    _spend_three_reads()
    now = int(time.time())
    for key, count in _expected_keys(now).items():
        assert caches["default"].get(key) == count, key


def test_a_window_ends_on_a_multiple_of_its_period(rate_limit_store, settings, frozen_clock):
    """Fixed windows: the refusal's Retry-After is the time to the next multiple of the period."""
    settings.AITRADER_RATE_LIMIT_CONTROL_PER_MINUTE = 1
    control = throttle.budget(throttle.CONTROL)
    throttle.spend(control, [("principal", "user:9")])
    with pytest.raises(throttle.RateLimited) as refused:
        throttle.spend(control, [("principal", "user:9")])
    now = int(time.time())
    assert refused.value.retry_after == max(1, 60 - now % 60)


@pytest.mark.parametrize("module", ["tenants.throttle", *WEB_LAYER_MODULES])
def test_no_private_name_of_django_ratelimit_is_used(module):
    """An upgrade of the library must not be able to move our keys: only its public API, if
    any, may be named."""
    source = inspect.getsource(__import__(module, fromlist=["_"]))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django_ratelimit"):
            assert not [alias.name for alias in node.names if alias.name.startswith("_")]
            assert not node.module.split(".")[-1].startswith("_")
        if isinstance(node, ast.Attribute):
            assert not (node.attr.startswith("_") and "ratelimit" in ast.unparse(node.value)), \
                ast.unparse(node)
        if isinstance(node, ast.Name):
            assert node.id not in {"EXPIRATION_FUDGE", "_split_rate", "_get_window",
                                   "_make_cache_key"}
