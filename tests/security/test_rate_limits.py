"""API budgets: per key, per tenant and per IP; reads, control, exports and key creation apart;
429 with Retry-After in the one error shape; X-Forwarded-For cannot buy a fresh bucket."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.factories import make
from trading.models import Bot

READ = "/api/v1/bots/"


@pytest.fixture
def limits(settings, rate_limit_store, frozen_clock):
    """Small budgets: 3 reads a minute (burst 100), 2 control actions, 1 export, 1 key."""
    settings.AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE = 3
    settings.AITRADER_RATE_LIMIT_BURST = 100
    settings.AITRADER_RATE_LIMIT_CONTROL_PER_MINUTE = 2
    settings.AITRADER_RATE_LIMIT_EXPORTS_PER_HOUR = 1
    settings.AITRADER_RATE_LIMIT_KEY_CREATIONS_PER_HOUR = 1
    return settings


def _spend(client: APIClient, times: int, path: str = READ, method: str = "get", **extra):
    return [getattr(client, method)(path, **extra).status_code for _ in range(times)]


def _key(world, tenant, scopes=("read",)) -> str:
    return api_key_issue(tenant=tenant, actor=owner_actor(tenant), name="extra",
                         scopes=list(scopes))[1]


def test_it_answers_429_with_retry_after_in_the_error_shape(world, limits):
    client = world.client_with_key(world.read_key_a)
    assert _spend(client, 3) == [200, 200, 200]
    response = client.get(READ)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert "API key or user" in error["message"] and "3 per minute" in error["message"]


def test_each_key_has_its_own_budget(world, limits):
    assert _spend(world.client_with_key(world.read_key_a), 4)[-1] == 429
    assert world.client_with_key(world.control_key_a).get(READ).status_code == 200


def test_a_signed_in_user_has_a_budget_too(world, limits):
    assert _spend(world.client_for(world.alice), 4) == [200, 200, 200, 429]


def test_the_burst_limit_caps_a_short_window(world, limits):
    limits.AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE = 100
    limits.AITRADER_RATE_LIMIT_BURST = 2
    response = _spend(world.client_with_key(world.read_key_a), 3)
    assert response == [200, 200, 429]
    message = world.client_with_key(world.read_key_a).get(READ).json()["error"]["message"]
    assert "2 per 10 seconds" in message


def test_a_tenant_shares_four_times_the_key_budget_across_its_keys(world, limits):
    # 3 per key, so 12 per tenant: four fresh keys spend it, a fifth key is refused (each
    # from its own address, so no IP budget is the one that runs out).
    for number in range(4):
        client = world.client_with_key(_key(world, world.tenant_a))
        assert _spend(client, 3, REMOTE_ADDR=f"10.0.0.{number}") == [200] * 3
    response = world.client_with_key(_key(world, world.tenant_a)).get(READ,
                                                                      REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429
    assert "workspace" in response.json()["error"]["message"]
    assert world.client_with_key(world.read_key_b).get(READ).status_code == 200, "B untouched"


def test_a_refused_key_does_not_drain_its_tenants_budget(world, limits):
    # 15 tries of one key would spend the tenant's 12 if its refusals counted there too.
    assert _spend(world.client_with_key(world.read_key_a), 15).count(200) == 3
    other_key = world.client_with_key(world.control_key_a)
    assert _spend(other_key, 3, REMOTE_ADDR="10.0.0.9") == [200] * 3


def test_an_ip_gets_twice_the_key_budget_across_tenants(world, limits):
    assert _spend(world.client_with_key(world.read_key_a), 3) == [200] * 3
    assert _spend(world.client_with_key(world.read_key_b), 3) == [200, 200, 200]
    response = world.client_with_key(world.control_key_b).get(READ)
    assert response.status_code == 429 and "address" in response.json()["error"]["message"]
    other_ip = world.client_with_key(world.control_key_b).get(READ, REMOTE_ADDR="10.0.0.9")
    assert other_ip.status_code == 200


@pytest.mark.parametrize("proxies", [0, 1])
def test_a_forged_forwarded_for_does_not_reset_a_limit(world, limits, proxies):
    limits.AITRADER_TRUSTED_PROXY_COUNT = proxies
    client = world.client_with_key(world.read_key_a)
    # Behind one proxy the proxy appends the real client; anything left of it is forgeable.
    real = "203.0.113.7"
    codes = [client.get(READ, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, {real}",
                        REMOTE_ADDR="10.0.0.2").status_code for n in range(7)]
    assert codes[-1] == 429
    # The IP bucket is the real client's: another key from it shares it.
    other = world.client_with_key(world.control_key_b)
    codes = [other.get(READ, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {real}",
                       REMOTE_ADDR="10.0.0.2").status_code for n in range(4)]
    assert 429 in codes, "the per-IP bucket of the real client is shared"


def test_control_actions_have_their_own_stricter_budget(world, limits):
    bot = make(Bot, world.tenant_a)
    client = world.client_with_key(world.control_key_a)
    pause = f"/api/v1/bots/{bot.pk}/pause/"
    assert _spend(client, 3, pause, "post") == [200, 200, 429]
    assert client.get(READ).status_code == 200, "reads are a separate budget"


def test_reads_spent_do_not_block_control(world, limits):
    bot = make(Bot, world.tenant_a)
    client = world.client_with_key(world.control_key_a)
    assert _spend(client, 4)[-1] == 429
    assert client.post(f"/api/v1/bots/{bot.pk}/pause/").status_code == 200


def test_exports_have_their_own_budget(world, limits):
    client = world.client_with_key(world.control_key_a)
    assert _spend(client, 2, "/api/v1/export/trades.csv") == [200, 429]
    assert client.get(READ).status_code == 200


def test_key_creation_has_its_own_budget(world, limits):
    client = world.client_for(world.alice)
    body = {"name": "ci", "scopes": ["read"]}
    codes = _spend(client, 2, "/api/v1/api-keys/", "post", data=body, format="json")
    assert codes == [201, 429]


def test_page_control_actions_spend_the_control_budget(world, limits):
    bot = make(Bot, world.tenant_a)
    client = world.client_for(world.alice)
    codes = _spend(client, 3, f"/bots/{bot.pk}/pause/", "post")
    assert codes[:2] == [302, 302] and codes[2] == 429


def test_page_key_creation_spends_the_key_budget(world, limits):
    client = world.client_for(world.alice)
    data = {"name": "web", "scopes": ["read"], "days": 30}
    assert _spend(client, 2, "/settings/api-keys/", "post", data=data) == [302, 429]


def test_unauthenticated_401s_are_limited_per_ip(world, limits):
    limits.AITRADER_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE = 3
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer atk_nope_notakey")
    assert _spend(bad, 4) == [401, 401, 401, 429]
    # Refused before the key lookup: from this address even a good key waits out the window.
    assert world.client_with_key(world.read_key_a).get(READ).status_code == 429
    assert world.client_with_key(world.read_key_a).get(
        READ, REMOTE_ADDR="10.1.1.1").status_code == 200


def test_the_seed_knob_switches_every_limit_off(world, limits):
    limits.AITRADER_RATE_LIMIT_ENABLED = False
    assert set(_spend(world.client_with_key(world.read_key_a), 10)) == {200}


def test_the_defaults_are_300_a_minute_with_a_burst_of_50(monkeypatch):
    """The values a deployment gets without setting anything (read from base settings)."""
    import importlib

    for name in ("AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE", "AITRADER_RATE_LIMIT_BURST",
                 "AITRADER_RATE_LIMIT_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    base = importlib.reload(importlib.import_module("aitrader.settings.base"))
    assert base.AITRADER_RATE_LIMIT_ENABLED is True
    assert base.AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE == 300
    assert base.AITRADER_RATE_LIMIT_BURST == 50
    assert base.AITRADER_RATE_LIMIT_LOGIN_FAILURES == 5
    assert base.AITRADER_RATE_LIMIT_LOGIN_WINDOW_MINUTES == 15
    assert base.AITRADER_RATE_LIMIT_CONTROL_PER_MINUTE < 300
