"""Fees and the position: the ledger holds what the exchange holds, whatever currency a fee
is charged in, and an exit sells what the bot holds, never more.

Binance charges a buy's fee in the coin bought (unless the account pays with BNB): a buy of
0.01567 BTC delivers 0.01565433 BTC. The end-to-end tests drive the real ccxt client against
the Binance stand-in, which charges exactly that way.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from tests.trading.conftest import make_paper_bot
from trading import selectors
from trading.engine import run_tick
from trading.exchanges.base import TradeFill
from trading.exchanges.factory import live_exchange
from trading.models import Bot, ExchangeAccount, Fill, Order, PaperBalance, Position, Trade
from trading.services import ledger, orders
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create
from trading.services.credentials import exchange_credentials_save

CANDLE = 1_700_000_040_000
BOUGHT = Decimal("0.01567")
BASE_FEE = Decimal("0.00001567")  # 0.1 % of the amount, in BTC
HELD = BOUGHT - BASE_FEE  # 0.01565433: what the exchange delivers
STEP = Decimal("0.00001")  # the stand-in's BTC/USDT lot size


def _fill(side: str, amount: Decimal, price: str, fee: Decimal, currency: str,
          number: int = 1) -> TradeFill:
    return TradeFill(trade_id=f"{side}-{number}", exchange_order_id=f"x-{side}-{number}",
                     client_order_id=None, symbol="BTC/USDT", side=side, amount=amount,
                     price=Decimal(price), fee=fee, fee_currency=currency,
                     timestamp_ms=CANDLE + number)


def _order(bot: Bot, side: str, amount: Decimal, candle: int = CANDLE) -> Order:
    order, _ = orders.order_intent_create(bot=bot, candle_ts=candle, action=f"{side}{candle}",
                                          side=side, amount=amount)
    return order


@pytest.fixture
def bot(world) -> Bot:
    """A live bot whose fills are recorded directly (no exchange involved)."""
    account = exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                      label="live", exchange_id="binance", mode="live")
    return Bot.objects.create(tenant=world.tenant_a, name="fees", account=account,
                              symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                              parameters={"fast": 3, "slow": 8})


def _position(bot: Bot) -> Decimal:
    return Position.objects.get(bot=bot).amount


def _realized(bot: Bot) -> Decimal:
    return Bot.objects.get(pk=bot.pk).realized_pnl


# --- Which currency the fee is in ----------------------------------------------------------


def test_a_fee_in_the_base_currency_comes_off_the_position(bot):
    ledger.fill_record(bot=bot, order=_order(bot, "buy", BOUGHT),
                       fill=_fill("buy", BOUGHT, "50000", BASE_FEE, "BTC"))
    trade = Trade.objects.get(bot=bot)
    assert _position(bot) == HELD == trade.amount
    # Its quote value is a cost, once: in the trade's fees and the bot's realized P&L.
    assert trade.fees == BASE_FEE * 50000 == Decimal("0.7835")
    assert _realized(bot) == -trade.fees
    assert Fill.objects.get(bot=bot).fee_quote == Decimal("0.7835")


def test_a_fee_in_a_third_currency_is_recorded_without_inventing_a_price(world, bot):
    ledger.fill_record(bot=bot, order=_order(bot, "buy", BOUGHT),
                       fill=_fill("buy", BOUGHT, "50000", Decimal("0.0012"), "BNB"))
    ledger.fill_record(bot=bot, order=_order(bot, "buy", BOUGHT, CANDLE + 60_000),
                       fill=_fill("buy", BOUGHT, "50000", Decimal("0.0003"), "BNB", number=2))
    trade = Trade.objects.get(bot=bot)
    assert _position(bot) == 2 * BOUGHT  # BNB is not the coin held
    # No BNB price is known here: nothing is made up, the fee is kept in BNB beside the P&L.
    assert trade.fees == 0 and _realized(bot) == 0
    assert trade.unpriced_fees == {"BNB": "0.0015"}
    assert [f.fee_quote for f in Fill.objects.filter(bot=bot)] == [None, None]
    # The customer sees them beside the P&L, not folded into it.
    reader = world.client_with_key(world.read_key_a)
    [shown] = reader.get("/api/v1/trades/").json()["results"]
    assert (shown["fees"], shown["unpriced_fees"]) == ("0.000000000000", {"BNB": "0.0015"})
    fills = reader.get("/api/v1/fills/").json()["results"]
    assert [row["fee_quote"] for row in fills] == [None, None]


@pytest.mark.parametrize(("buy_fee", "buy_currency", "sell_fee", "sell_currency"), [
    (Decimal("0.7835"), "USDT", Decimal("0.79"), "USDT"),
    (BASE_FEE, "BTC", Decimal("0.79"), "USDT"),
    (BASE_FEE, "BTC", Decimal("0.0000155"), "BTC"),
])
def test_a_round_trip_pnl_is_proceeds_less_cost_less_fees_in_any_currency(
        bot, buy_fee, buy_currency, sell_fee, sell_currency):
    buy = _fill("buy", BOUGHT, "50000", buy_fee, buy_currency)
    ledger.fill_record(bot=bot, order=_order(bot, "buy", BOUGHT), fill=buy)
    held = _position(bot)
    # A sell whose fee is in the base currency gives up the fee coins as well.
    sold = held - (sell_fee if sell_currency == "BTC" else 0)
    sell = _fill("sell", sold, "51000", sell_fee, sell_currency)
    ledger.fill_record(bot=bot, order=_order(bot, "sell", sold, CANDLE + 60_000), fill=sell)
    quote_spent = BOUGHT * 50000 + (buy_fee if buy_currency == "USDT" else 0)
    quote_received = sold * 51000 - (sell_fee if sell_currency == "USDT" else 0)
    trade = Trade.objects.get(bot=bot)
    assert _position(bot) == 0 and trade.status == Trade.Status.CLOSED
    assert trade.pnl == quote_received - quote_spent == _realized(bot)


# --- Paper balances ------------------------------------------------------------------------


def _paper(bot: Bot, currency: str) -> Decimal:
    row = PaperBalance.objects.filter(account=bot.account, currency=currency).first()
    return row.free if row else Decimal(0)


def test_paper_balances_take_each_fee_from_its_own_currency(world):
    paper = make_paper_bot(world.tenant_a)
    usdt, btc = _paper(paper, "USDT"), _paper(paper, "BTC")
    ledger.fill_record(bot=paper, order=_order(paper, "buy", BOUGHT),
                       fill=_fill("buy", BOUGHT, "50000", BASE_FEE, "BTC"))
    ledger.fill_record(bot=paper, order=_order(paper, "buy", BOUGHT, CANDLE + 60_000),
                       fill=_fill("buy", BOUGHT, "50000", Decimal("0.001"), "BNB", number=2))
    assert _paper(paper, "BTC") - btc == HELD + BOUGHT == _position(paper)
    assert usdt - _paper(paper, "USDT") == 2 * BOUGHT * 50000  # no fee taken in USDT
    assert _paper(paper, "BNB") == Decimal("-0.001")


# --- Exits sell the free position ----------------------------------------------------------


def test_the_exit_amount_is_the_free_position_rounded_down_to_the_step(bot):
    ledger.fill_record(bot=bot, order=_order(bot, "buy", BOUGHT),
                       fill=_fill("buy", BOUGHT, "50000", BASE_FEE, "BTC"))
    assert ledger.position_exit_amount(bot=bot, step=STEP) == Decimal("0.01565")
    # A sell still working offers part of the position already: only the rest is free.
    working = _order(bot, "sell", Decimal("0.01"), CANDLE + 60_000)
    ledger.fill_record(bot=bot, order=working,
                       fill=_fill("sell", Decimal("0.004"), "50000", Decimal("0.2"), "USDT"))
    Order.objects.filter(pk=working.pk).update(status=Order.Status.OPEN,
                                               filled=Decimal("0.004"))
    assert ledger.position_exit_amount(bot=bot, step=STEP) == Decimal("0.00565")


def test_dust_below_the_step_closes_the_round_trip_and_stays_in_the_position(bot):
    ledger.fill_record(bot=bot, order=_order(bot, "buy", BOUGHT),
                       fill=_fill("buy", BOUGHT, "50000", BASE_FEE, "BTC"))
    sell = _order(bot, "sell", Decimal("0.01565"), CANDLE + 60_000)
    ledger.fill_record(bot=bot, order=sell, amount_step=STEP,
                       fill=_fill("sell", Decimal("0.01565"), "51000", Decimal("0.79"), "USDT"))
    trade = Trade.objects.get(bot=bot)
    dust = HELD - Decimal("0.01565")
    assert trade.status == Trade.Status.CLOSED and trade.pnl == _realized(bot)
    assert _position(bot) == dust  # the exchange still holds it, so does the ledger
    assert ledger.position_exit_amount(bot=bot, step=STEP) == 0
    assert selectors.open_position_count_on_account(bot=make_paper_bot(bot.tenant)) == 0
    # The next round trip carries the dust: it is sold with the next exit.
    ledger.fill_record(bot=bot, order=_order(bot, "buy", BOUGHT, CANDLE + 120_000),
                       fill=_fill("buy", BOUGHT, "52000", BASE_FEE, "BTC", number=2))
    second = Trade.objects.get(bot=bot, status=Trade.Status.OPEN)
    assert second.amount == _position(bot) == dust + HELD


# --- End to end: a live bot, the real ccxt client and the Binance stand-in -----------------


def _live_bot(tenant) -> Bot:
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label="live",
                                      exchange_id="binance", mode="live")
    exchange_credentials_save(tenant=tenant, actor=actor, account_id=account.pk,
                              api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, password=PASSWORD)
    ExchangeAccount.objects.filter(pk=account.pk).update(taker_fee=Decimal("0.001"))
    return bot_create(tenant=tenant, actor=actor, name="live", account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                      parameters={"fast": 3, "slow": 8}, preset="aggressive")


def _tick_until(bot: Bot, market, side: str, after: int = 0, limit: int = 400) -> Order:
    """Tick candle by candle until the bot places a market order on `side` (with an id above
    `after`); a stop resting at the exchange after an entry is not the exit."""
    for _ in range(limit):
        market.step()
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
        order = Order.objects.filter(bot=bot, side=side, type=Order.Type.MARKET,
                                     pk__gt=after).order_by("-id").first()
        if order is not None:
            return order
    raise AssertionError(f"no {side} within {limit} candles")


def _btc(fake) -> Decimal:
    """All the BTC on the stand-in account: free, and locked by a resting stop."""
    return sum(fake.balance("BTC"), Decimal(0))


@pytest.mark.parametrize("own_btc", [Decimal("0"), Decimal("0.5")])
def test_a_live_round_trip_with_the_fee_in_btc_sells_exactly_what_it_holds(
        world, stand_in, market, own_btc):
    stand_in.set_balance("BTC", own_btc)  # 0.5: the customer's own coins on the account
    bot = _live_bot(world.tenant_a)
    buy = _tick_until(bot, market, "buy")
    assert buy.status == Order.Status.CLOSED
    [fill] = Fill.objects.filter(order=buy)
    assert fill.fee_currency == "BTC" and fill.fee == fill.amount * Decimal("0.001")
    held = _position(bot)
    assert held == fill.amount - fill.fee
    assert _btc(stand_in) - own_btc == held  # the ledger holds what the venue holds
    sell = _tick_until(bot, market, "sell")
    assert sell.status == Order.Status.CLOSED, sell.error  # accepted and filled
    assert sell.amount == (held // STEP) * STEP  # all it holds, to the lot size, never more
    [sent] = stand_in.orders_with_client_id(sell.client_order_id)
    assert Decimal(sent["executedQty"]) == sell.amount
    assert _btc(stand_in) - own_btc == _position(bot) == held - sell.amount
    trade = Trade.objects.get(bot=bot)
    assert trade.status == Trade.Status.CLOSED and trade.pnl == _realized(bot)
    # The dust left below the lot size does not hold the bot: it enters again, dust included.
    dust = _position(bot)
    again = _tick_until(bot, market, "buy", after=sell.pk)
    [fill] = Fill.objects.filter(order=again)
    assert _position(bot) == dust + fill.amount - fill.fee == _btc(stand_in) - own_btc
    assert Trade.objects.get(bot=bot, status=Trade.Status.OPEN).amount == _position(bot)


def test_a_live_buy_records_the_base_fee_and_the_stand_in_agrees(world, market, stand_in):
    stand_in.set_balance("BTC", "0")
    bot = _live_bot(world.tenant_a)
    orders.order_submit(bot=bot, order=_order(bot, "buy", BOUGHT),
                        exchange=live_exchange(bot.account))
    assert _position(bot) == HELD == stand_in.balance("BTC")[0]


def test_a_live_buy_paying_its_fee_in_bnb_keeps_every_coin_bought(world, market, stand_in):
    stand_in.set_balance("BTC", "0")
    stand_in.set_balance("BNB", "1")
    stand_in.pay_fees_with("BNB", "600")
    bot = _live_bot(world.tenant_a)
    orders.order_submit(bot=bot, order=_order(bot, "buy", BOUGHT),
                        exchange=live_exchange(bot.account))
    bnb_fee = 1 - stand_in.balance("BNB")[0]
    assert bnb_fee == Decimal("0.00130583")  # 783.5 USDT x 0.1 % at 600 USDT a BNB
    assert _position(bot) == BOUGHT == stand_in.balance("BTC")[0]
    trade = Trade.objects.get(bot=bot)
    assert trade.unpriced_fees == {"BNB": "0.00130583"} and trade.fees == 0
