"""The Redis rate-limit store: all of a request's buckets in one script call, counted in the
buckets django-ratelimit itself uses (the behaviour of both stores is tested through the API
in test_rate_limits.py and test_login_limits.py, which run against each)."""
from __future__ import annotations

import pytest
import redis
from django_ratelimit.core import _split_rate, get_usage

from dashboard import ratelimits
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


def test_the_script_counts_in_django_ratelimits_own_buckets(world, rate_limit_store,
                                                            frozen_clock):
    """So a deployment that moves between stores, or reads a bucket with django-ratelimit,
    sees one count."""
    read = ratelimits.budget(ratelimits.READ)
    identities = [("principal", "key:7"), ("ip", "ip:10.0.0.7")]
    for _ in range(3):
        ratelimits.spend(read, identities)
    for scope, identity in identities:
        for rate in read.rates_for(scope):
            usage = get_usage(None, group=f"aitrader:read:{scope}", rate=rate,
                              key=lambda _group, _request, identity=identity: identity)
            assert usage["count"] == 3, (scope, rate)
            # django-ratelimit's window ends between now (time_left 0) and a period later.
            assert 0 <= usage["time_left"] < _split_rate(rate)[1]


def test_checking_counts_nothing_and_counting_refuses_nothing(rate_limit_store, settings,
                                                              frozen_clock):
    settings.AITRADER_RATE_LIMIT_LOGIN_FAILURES = 2
    login = ratelimits.budget(ratelimits.LOGIN)
    identities = ratelimits.login_identities("carol@example.com", "10.0.0.8")
    for _ in range(5):
        ratelimits.check(login, identities)  # never counted, so never full
    for _ in range(3):
        ratelimits.count(login, identities)  # past the limit, and still no refusal
    with pytest.raises(ratelimits.RateLimited) as refused:
        ratelimits.check(login, identities)
    assert "account and address" in str(refused.value)
    assert 1 <= refused.value.retry_after <= 15 * 60
