"""The trader's tools from Telegram: /orders and /cancel (a working order, through the manual
order service), /sweeps, /signals and /channels (read-only), through the real PTB client and
the Bot API stand-in.

Reads work for every linked member; /cancel needs trader or above. Another tenant's bot or
order reads exactly like a missing one; secrets (a hook's token, a webhook's URL) never show.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from notifications import services_channels as channels
from tenants.models import AuditEvent
from tests.base import owner_actor
from tests.notifications.conftest import CHATS, ask
from tests.trading.conftest import make_paper_bot
from trading.models import BacktestSweep, Bot, ManualOrder, Order
from trading.services.signals import signal_hook_enable, signal_receive

pytestmark = pytest.mark.django_db

WEBHOOK_URL = "https://discord.com/api/webhooks/1234/very-secret-token-part"
CANCEL_USAGE = "Usage: /cancel <bot> <order id>"


@pytest.fixture
def bots(linked):
    """sma and rsi in A, b-bot in B."""
    make_paper_bot(linked.tenant_a, name="sma")
    make_paper_bot(linked.tenant_a, name="rsi")
    make_paper_bot(linked.tenant_b, name="b-bot")
    return {bot.name: bot for bot in Bot.objects.all()}


def _order(bot: Bot, *, status: str = Order.Status.OPEN, side: str = "buy",
           order_type: str = Order.Type.LIMIT, amount: str = "0.015",
           price: str | None = "29500.5") -> Order:
    return Order.objects.create(
        tenant_id=bot.tenant_id, bot=bot, account=bot.account,
        client_order_id=f"test-{Order.objects.count() + 1}", symbol=bot.symbol, side=side,
        type=order_type, amount=Decimal(amount), price=Decimal(price) if price else None,
        status=status, candle_ts=1)


@pytest.fixture
def orders(bots):
    """sma: a working limit buy and a filled order; b-bot (tenant B): a working order."""
    return {"working": _order(bots["sma"]),
            "filled": _order(bots["sma"], status=Order.Status.CLOSED),
            "foreign": _order(bots["b-bot"])}


def _cancels():
    return ManualOrder.objects.filter(action=ManualOrder.Action.CANCEL)


# --- /orders -------------------------------------------------------------------------------


def test_orders_lists_the_bots_working_orders_with_their_ids(orders, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], "/orders sma")
    working = orders["working"]
    assert f"#{working.pk} Buy limit 0.015 BTC/USDT @ 29,500.50 · Open" in reply
    assert f"#{orders['filled'].pk} " not in reply
    assert f"#{orders['foreign'].pk} " not in reply
    assert "/cancel sma <order id>" in reply


def test_orders_of_a_bot_without_working_orders_says_so(orders, fake_telegram):
    assert ask(fake_telegram, CHATS["bob"], "/orders rsi") == "rsi has no working orders."


def test_orders_of_another_tenants_bot_is_not_found(orders, fake_telegram):
    assert ask(fake_telegram, CHATS["bob"], "/orders b-bot") == "No bot named 'b-bot'."


def test_orders_without_a_bot_asks_which(orders, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], "/orders")
    assert reply.startswith("Which bot? /orders <name>.") and "sma" in reply


# --- /cancel -------------------------------------------------------------------------------


def test_cancel_asks_the_bot_to_cancel_its_working_order(orders, fake_telegram, linked):
    working = orders["working"]
    reply = ask(fake_telegram, CHATS["tina"], f"/cancel sma {working.pk}")
    assert reply == f"Asked sma to cancel order #{working.pk}: the next tick carries it out."
    request = _cancels().get()
    assert (request.bot.name, request.order, request.status) == \
        ("sma", working, ManualOrder.Status.PENDING)
    event = AuditEvent.objects.get(action="bot.manual_cancel")
    assert (event.actor_user, event.via) == (linked.tina, "telegram")


def test_cancel_accepts_the_id_with_its_hash_sign(orders, fake_telegram):
    ask(fake_telegram, CHATS["alice"], f"/cancel sma #{orders['working'].pk}")
    assert _cancels().get().order == orders["working"]


def test_a_viewer_may_not_cancel(orders, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], f"/cancel sma {orders['working'].pk}")
    assert "Your role (viewer) can read but not control bots" in reply
    assert not _cancels().exists()


@pytest.mark.parametrize("text", ["/cancel", "/cancel sma", "/cancel sma abc", "/cancel 12",
                                  "/cancel sma 0", "/cancel sma 99999999999999999999999"])
def test_bad_arguments_get_the_usage(orders, fake_telegram, text):
    reply = ask(fake_telegram, CHATS["tina"], text)
    assert CANCEL_USAGE in reply
    assert not _cancels().exists()


@pytest.mark.parametrize("which", ["filled", "foreign"])
def test_a_finished_or_another_tenants_order_is_not_found(orders, fake_telegram, which):
    order_id = orders[which].pk
    reply = ask(fake_telegram, CHATS["tina"], f"/cancel sma {order_id}")
    assert reply.startswith(f"sma has no working order {order_id} to cancel.")
    assert CANCEL_USAGE in reply and "/orders sma" in reply
    assert not _cancels().exists()


def test_another_bots_order_is_not_found(orders, fake_telegram):
    reply = ask(fake_telegram, CHATS["tina"], f"/cancel rsi {orders['working'].pk}")
    assert reply.startswith("rsi has no working order") and CANCEL_USAGE in reply
    assert not _cancels().exists()


def test_cancel_on_another_tenants_bot_is_not_found(orders, fake_telegram):
    reply = ask(fake_telegram, CHATS["tina"], f"/cancel b-bot {orders['foreign'].pk}")
    assert reply.startswith("No bot named 'b-bot'.")
    assert not _cancels().exists()


# --- /sweeps -------------------------------------------------------------------------------


def _sweep(tenant, **fields) -> BacktestSweep:
    fields = {"symbol": "BTC/USDT", "timeframe": "1h", **fields}
    return BacktestSweep.objects.create(tenant=tenant, strategy="sma_cross",
                                        grid={"fast": [5, 10]}, combinations=2, **fields)


DONE_RESULT = {"parameters": ["fast", "slow"], "rows": [
    {"rank": 1, "params": {"fast": 5, "slow": 20},
     "in_sample": {"return_pct": 12.345}, "out_of_sample": {"return_pct": -3.2}},
    {"rank": 2, "params": {"fast": 10, "slow": 20},
     "in_sample": {"return_pct": 2.0}, "out_of_sample": {"return_pct": 1.0}}]}


def test_sweeps_lists_the_latest_with_progress_and_the_best_combination(linked, fake_telegram):
    done = _sweep(linked.tenant_a, status=BacktestSweep.Status.DONE, progress=100,
                  result=DONE_RESULT)
    running = _sweep(linked.tenant_a, status=BacktestSweep.Status.RUNNING, progress=40,
                     symbol="ETH/USDT", timeframe="4h")
    _sweep(linked.tenant_b, status=BacktestSweep.Status.RUNNING, symbol="SOL/USDT")
    reply = ask(fake_telegram, CHATS["bob"], "/sweeps")
    lines = reply.splitlines()
    assert lines[1] == f"#{running.pk} sma_cross ETH/USDT 4h · running 40 %"
    assert lines[2] == (f"#{done.pk} sma_cross BTC/USDT 1h · done · best fast 5, slow 20: "
                        f"in-sample +12.35 %, out-of-sample \u22123.20 %")
    assert "SOL/USDT" not in reply


def test_sweeps_shows_at_most_five_and_why_one_failed(linked, fake_telegram):
    failed = _sweep(linked.tenant_a, status=BacktestSweep.Status.FAILED,
                    error="Too few candles to split.")
    for _ in range(5):
        _sweep(linked.tenant_a)
    reply = ask(fake_telegram, CHATS["bob"], "/sweeps")
    assert reply.count("queued") == 5 and f"#{failed.pk}" not in reply
    BacktestSweep.objects.filter(status=BacktestSweep.Status.QUEUED).first().delete()
    reply = ask(fake_telegram, CHATS["bob"], "/sweeps")
    assert f"#{failed.pk} sma_cross BTC/USDT 1h · failed: Too few candles to split." in reply


def test_sweeps_without_any_says_so(linked, fake_telegram):
    _sweep(linked.tenant_b)
    assert ask(fake_telegram, CHATS["bob"], "/sweeps").startswith("No parameter sweeps yet")


# --- /signals ------------------------------------------------------------------------------


@pytest.fixture
def alerts(bots):
    """sma's hook got a refused exit and a queued entry; b-bot's hook (tenant B) one entry."""
    tokens = {}
    for name in ("sma", "b-bot"):
        bot = bots[name]
        hook, secret = signal_hook_enable(tenant=bot.tenant, actor=owner_actor(bot.tenant),
                                          bot_id=bot.pk)
        tokens[name] = (hook.token, secret)
    for name, action, alert_id in (("sma", "exit", "a1"), ("sma", "enter", "a2"),
                                   ("b-bot", "enter", "b1")):
        token, secret = tokens[name]
        signal_receive(token=token, payload={"secret": secret, "action": action,
                                             "alert_id": alert_id}, ip=None)
    return tokens


def test_signals_lists_the_workspaces_recent_alerts_newest_first(alerts, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], "/signals")
    lines = reply.splitlines()
    assert lines[0] == "Signal alerts (newest first, UTC)"
    assert lines[1].endswith(" sma enter: queued: enter now; the next tick carries it out")
    assert lines[2].endswith(" sma exit: refused: sma holds nothing to exit.")
    assert "b-bot" not in reply


def test_signals_of_one_bot_says_whether_its_hook_is_on(alerts, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], "/signals sma")
    assert reply.splitlines()[0] == "Signal alerts of sma (newest first, UTC) · webhook on"
    assert ask(fake_telegram, CHATS["bob"], "/signals rsi") == \
        "No signal alerts for rsi yet · webhook off."


def test_signals_never_shows_a_hooks_token_or_secret(alerts, fake_telegram):
    for text in ("/signals", "/signals sma"):
        reply = ask(fake_telegram, CHATS["alice"], text)
        token, secret = alerts["sma"]
        assert token not in reply and secret not in reply


def test_signals_of_another_tenants_bot_is_not_found(alerts, fake_telegram):
    assert ask(fake_telegram, CHATS["bob"], "/signals b-bot") == "No bot named 'b-bot'."


# --- /channels -----------------------------------------------------------------------------


@pytest.fixture
def outgoing(linked):
    actor = owner_actor(linked.tenant_a)
    channels.channel_add(tenant=linked.tenant_a, actor=actor, kind="webhook",
                         target=WEBHOOK_URL, switches={"entry": False, "daily_digest": False})
    channels.channel_add(tenant=linked.tenant_a, actor=actor, kind="email",
                         target="ops.team@example.com")
    channels.channel_add(tenant=linked.tenant_b, actor=owner_actor(linked.tenant_b),
                         kind="email", target="b-only@example.org")
    return linked


def test_channels_lists_kind_masked_destination_and_switches(outgoing, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], "/channels")
    assert "Webhook · discord.com/… · exit, alert" in reply
    assert "E-mail · o***@example.com · entry, exit, alert, daily digest" in reply
    assert "b-only" not in reply and "example.org" not in reply
    assert "web page" in reply  # changes are made there, not here


def test_channels_never_shows_a_webhooks_url(outgoing, fake_telegram):
    reply = ask(fake_telegram, CHATS["alice"], "/channels")
    assert "/api/webhooks" not in reply and "very-secret" not in reply
    assert WEBHOOK_URL[-4:] not in reply
    assert "ops.team@" not in reply


def test_channels_without_any_says_so(linked, fake_telegram):
    assert ask(fake_telegram, CHATS["bob"], "/channels").startswith(
        "No outgoing channels yet")


def test_help_lists_the_tools(linked, fake_telegram):
    reply = ask(fake_telegram, CHATS["bob"], "/help")
    for command in ("/orders <bot>", "/cancel <bot> <order id>", "/sweeps", "/signals [bot]",
                    "/channels"):
        assert command in reply
