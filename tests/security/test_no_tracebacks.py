"""Inputs that reached a traceback: each now gets a 4xx in the API's error shape."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from tenants.models import Tenant
from tenants.plans import Plan
from tests.base import owner_actor
from tests.live import refusal_code
from trading.services.accounts import exchange_account_create

pytestmark = pytest.mark.django_db
HUGE_ID = "9" * 23


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/export/trades.csv?ordering=pnl",
                                  "/api/v1/audit-events/export.csv?ordering=id"])
def test_ordering_a_list_that_cannot_be_reordered_is_a_400(world, path):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.ENTERPRISE)
    response = world.client_for(world.alice).get(path)
    assert response.status_code == 400
    assert _error(response)["fields"]["ordering"]


def test_ordering_by_an_unknown_field_is_a_400_naming_the_allowed_ones(world):
    response = world.client_with_key(world.read_key_a).get("/api/v1/trades/?ordering=secret")
    assert response.status_code == 400
    assert "entry_time" in _error(response)["message"]
    ordered = world.client_with_key(world.read_key_a).get("/api/v1/trades/?ordering=-pnl")
    assert ordered.status_code == 200


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_a_deeply_nested_json_body_is_a_400(world, opening, closing):
    body = opening * 5000 + "1" + closing * 5000
    response = world.client_with_key(world.control_key_a).post(
        "/api/v1/bots/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "nested" in _error(response)["message"]


def test_a_body_past_the_upload_limit_is_a_413(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"name": "' + "x" * 2000 + '"}'
    response = world.client_with_key(world.control_key_a).post(
        "/api/v1/bots/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert _error(response)["code"] == "too_large"


def test_switching_to_a_23_digit_tenant_id_stays_where_it_was(world, client):
    client.force_login(world.alice)
    response = client.post("/accounts/switch/", {"tenant": HUGE_ID})
    assert response.status_code == 302
    assert client.session.get("tenant_id") in (None, world.tenant_a.pk)


def test_an_object_id_past_64_bits_is_a_404(world):
    response = world.client_with_key(world.read_key_a).get(f"/api/v1/bots/{HUGE_ID}/")
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_live_feed_bot_filter_past_64_bits_is_not_found(world):
    from channels.testing import WebsocketCommunicator

    from aitrader.asgi import application
    communicator = WebsocketCommunicator(application, f"/ws/live?bot={HUGE_ID}", headers=[
        (b"host", b"testserver"), (b"origin", b"http://testserver"),
        (b"authorization", f"Bearer {world.read_key_a}".encode())])
    assert async_to_sync(refusal_code)(communicator) == 4404


@pytest.fixture
def bot_payload(world):
    account = exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                      label="paper", exchange_id="binance")
    return {"name": "b", "account": account.pk, "symbol": "BTC/USDT", "timeframe": "1m",
            "strategy": "sma_cross", "parameters": {"fast": 3, "slow": 8}}


@pytest.mark.parametrize("change, field", [
    ({"breakers": {"stale_checks": 10**22}}, "breakers.stale_checks"),
    ({"breakers": {"exchange_errors": 101}}, "breakers.exchange_errors"),
    ({"symbol": "<b>XX</b>/USDT"}, "symbol"),
])
def test_bot_numbers_and_symbols_are_bounded(world, bot_payload, change, field):
    response = world.client_with_key(world.control_key_a).post(
        "/api/v1/bots/", {**bot_payload, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in _error(response)["fields"]


def test_a_bot_allows_at_most_50_symbols(world, bot_payload):
    client = world.client_with_key(world.control_key_a)
    bot = client.post("/api/v1/bots/", bot_payload, format="json").json()
    symbols = [f"C{i}/USDT" for i in range(10_000)]
    response = client.patch(f"/api/v1/bots/{bot['id']}/", {"allowed_symbols": symbols},
                            format="json")
    assert response.status_code == 400
    assert "50" in _error(response)["message"]
    kept = client.patch(f"/api/v1/bots/{bot['id']}/",
                        {"allowed_symbols": ["btc/usdt", "BTC/USDT", "ETH/USDT"]},
                        format="json")
    assert kept.status_code == 200 and kept.json()["allowed_symbols"] == ["BTC/USDT",
                                                                          "ETH/USDT"]


def test_a_quote_currency_is_letters_and_digits(world):
    response = world.client_for(world.alice).post(
        "/api/v1/exchange-accounts/", {"label": "x", "quote_currency": "<b>XX</b>"},
        format="json")
    assert response.status_code == 400
    assert "quote_currency" in _error(response)["fields"]
