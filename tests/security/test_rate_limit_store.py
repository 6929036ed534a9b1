"""The Redis rate-limit store: all of a request's buckets in one script call, counted in the
buckets the cache API path reads (the behaviour of both stores is tested through the API
in test_rate_limits.py and test_login_limits.py, which run against each; the key scheme in
test_throttle_keys.py)."""
from __future__ import annotations

import time

import pytest
import redis
from django.core.cache import caches

from tenants import throttle
from tests.security.conftest import REDIS_URL

READ = "/api/v1/bots/"
pytestmark = [pytest.mark.services,  # a real Redis: run by .ci/run and with REDIS_URL set
              pytest.mark.parametrize("rate_limit_store", ["redis"], indirect=True)]


def _command_calls(client: redis.Redis) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


def test_a_read_request_reaches_the_store_twice(world, rate_limit_store, frozen_clock):
    """Once to check the 401 budget of its address, once to spend its six read buckets."""
    store = redis.Redis.from_url(REDIS_URL)
    api = world.client_with_key(world.read_key_a)
    assert api.get(READ).status_code == 200  # the first request also loads the script
    before = _command_calls(store)
    assert api.get(READ).status_code == 200
    after = _command_calls(store)
    sent = {name: calls - before.get(name, 0) for name, calls in after.items()
            if calls != before.get(name, 0)}
    # Redis counts the commands a script runs too: INCR and GET here are the script's.
    assert sent == {"cmdstat_evalsha": 2, "cmdstat_incr": 6, "cmdstat_get": 1,
                    "cmdstat_info": 1}


def test_the_script_counts_in_the_cache_paths_own_buckets(world, rate_limit_store,
                                                          frozen_clock):
    """So a deployment that moves between stores, or reads a bucket through the cache API,
    sees one count."""
    read = throttle.budget(throttle.READ)
    identities = [("principal", "key:7"), ("ip", "ip:10.0.0.7")]
    for _ in range(3):
        throttle.spend(read, identities)
    now = int(time.time())
    for scope, identity in identities:
        for rate in read.rates_for(scope):
            period = throttle.parse_rate(rate)[1]
            key = throttle.counter_key("read", scope, identity, period, now - now % period)
            assert caches["default"].get(key) == 3, (scope, rate)


def test_checking_counts_nothing_and_counting_refuses_nothing(rate_limit_store, settings,
                                                              frozen_clock):
    settings.AITRADER_RATE_LIMIT_LOGIN_FAILURES = 2
    login = throttle.budget(throttle.LOGIN)
    identities = throttle.login_identities("carol@example.com", "10.0.0.8")
    for _ in range(5):
        throttle.check(login, identities)  # never counted, so never full
    for _ in range(3):
        throttle.count(login, identities)  # past the limit, and still no refusal
    with pytest.raises(throttle.RateLimited) as refused:
        throttle.check(login, identities)
    assert "account and address" in str(refused.value)
    assert 1 <= refused.value.retry_after <= 15 * 60
