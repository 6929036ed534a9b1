"""POST /hooks/signals/<token>/: TradingView-style alerts from outside, end to end through the
Django test client: an alert queues a manual order that the bot's next tick carries out."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.base import owner_actor
from tests.dashboard.conftest import paper_bot, tick
from trading import selectors
from trading.models import Bot, ManualOrder, Order, SignalHook
from trading.services.signals import signal_hook_enable


@pytest.fixture
def bot(world, market) -> Bot:
    bot = paper_bot(world.tenant_a, name="tv")
    tick(bot, market)  # its first candle
    return bot


@pytest.fixture
def hook(bot) -> tuple[SignalHook, str]:
    return signal_hook_enable(tenant=bot.tenant, actor=owner_actor(bot.tenant), bot_id=bot.pk)


def post(token: str, body, *, client: Client | None = None, **headers):
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return (client or Client()).post(f"/hooks/signals/{token}/", raw,
                                     content_type="application/json", **headers)


def alert(hook, **fields) -> dict:
    row, secret = hook
    return {"secret": secret, "action": "enter", "alert_id": "tv-1", **fields}


def test_an_alert_queues_an_entry_that_the_next_tick_carries_out(bot, hook, market):
    response = post(hook[0].token, alert(hook))
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["queued"] is True and body["outcome"].startswith("queued")
    request = ManualOrder.objects.for_tenant(bot.tenant_id).get()
    assert request.requested_by == "signal webhook"
    tick(bot, market, candles=2)  # the tick places the entry; the next candle fills it
    request.refresh_from_db()
    assert request.status == ManualOrder.Status.DONE
    assert Order.objects.for_tenant(bot.tenant_id).filter(bot=bot, reason="manual_entry")\
        .count() == 1
    assert selectors.position_for_bot(bot=bot).amount > 0


def test_a_repeated_alert_answers_the_first_outcome_and_orders_nothing_more(bot, hook, market):
    first = post(hook[0].token, alert(hook)).json()
    tick(bot, market)
    again = post(hook[0].token, alert(hook))
    assert again.status_code == 200
    assert again.json() == {**first, "repeat": True}
    assert ManualOrder.objects.for_tenant(bot.tenant_id).count() == 1


def test_the_secret_may_come_in_a_header(hook):
    response = post(hook[0].token, {"action": "enter", "alert_id": "h-1"},
                    HTTP_X_AITRADER_SECRET=hook[1])
    assert response.status_code == 200 and response.json()["queued"]


def test_an_unknown_token_and_a_wrong_secret_are_the_same_404(hook):
    wrong = post(hook[0].token, alert(hook, secret="guess"))
    unknown = post("no-such-token", alert(hook))
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json() and "error" in wrong.json()
    assert hook[1] not in unknown.content.decode()


def test_bad_fields_are_a_400_naming_the_field_without_echoing_the_secret(hook):
    response = post(hook[0].token, alert(hook, action="short"))
    assert response.status_code == 400
    assert response.json()["field"] == "action" and hook[1] not in response.content.decode()


def test_malformed_json_is_a_400(hook):
    response = post(hook[0].token, '{"secret": "' + hook[1] + '", "action": ')
    assert response.status_code == 400 and "JSON" in response.json()["error"]
    assert hook[1] not in response.content.decode()


@pytest.mark.parametrize("body", [
    "[" * 100 + "]" * 100,
    '["enter"]',
    "null",
    b"\xff\xfe",
])
def test_hostile_bodies_are_a_400_never_a_500(hook, body):
    assert post(hook[0].token, body).status_code == 400


def test_a_share_that_is_not_a_number_is_a_400(hook):
    raw = json.dumps(alert(hook, action="exit")).replace("}", ', "share": NaN}')
    response = post(hook[0].token, raw)
    assert response.status_code == 400 and response.json()["field"] == "share"


def test_a_body_over_10_kb_is_refused_unread(hook):
    response = post(hook[0].token, alert(hook, padding="x" * 11_000))
    assert response.status_code == 413 and "error" in response.json()
    assert not ManualOrder.objects.exists()


def test_only_post_is_served(hook):
    response = Client().get(f"/hooks/signals/{hook[0].token}/")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_a_hook_past_its_budget_gets_429_with_retry_after(settings, bot, hook, frozen_clock):
    settings.AITRADER_RATE_LIMIT_SIGNALS_PER_MINUTE = 2
    answers = [post(hook[0].token, alert(hook, alert_id=f"r-{n}")).status_code
               for n in range(3)]
    assert answers == [200, 200, 429]  # the second is refused (one request waits), not limited
    refused = post(hook[0].token, alert(hook, alert_id="r-9"))
    assert int(refused["Retry-After"]) >= 1 and "signal alerts" in refused.json()["error"]


def test_an_address_past_its_budget_gets_429_whatever_the_token(settings, hook,
                                                                  frozen_clock):
    settings.AITRADER_RATE_LIMIT_SIGNALS_PER_MINUTE = 1
    settings.AITRADER_RATE_LIMIT_SIGNAL_IP_FACTOR = 2
    answers = [post(f"token-{n}", {"secret": "s"}).status_code for n in range(3)]
    assert answers == [404, 404, 429]
    assert post(hook[0].token, alert(hook)).status_code == 429  # the same address
