"""Money is exact on both backends: 28 digits, 12 after the point, written, read back,
compared, sorted, summed and added in an UPDATE without a float in between.

Run on the SQLite default and with DATABASE_URL pointing at PostgreSQL.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import F

from tests.trading.conftest import make_paper_bot
from trading.exchanges.base import TradeFill
from trading.fields import MoneyAdd, MoneySum
from trading.models import Bot, Fill, PaperBalance, Trade
from trading.services.ledger import fill_record
from trading.services.orders import order_intent_create

pytestmark = pytest.mark.django_db

WIDEST = Decimal("9999999999999999.999999999999")  # 28 digits, 12 places
ISSUE_VALUE = Decimal("12345678.123456789012")  # read back as 12345678.1234568 on REAL
LEDGER_WIDE = Decimal("999999999999999.999999999999")  # the ledger's ceiling, less a unit


@pytest.fixture
def bot(world) -> Bot:
    return make_paper_bot(world.tenant_a)


def _balance(bot: Bot, currency: str, free: Decimal) -> PaperBalance:
    return PaperBalance.objects.create(tenant=bot.tenant, account=bot.account,
                                       currency=currency, free=free)


def _fill(bot: Bot, number: int, amount: Decimal, price: Decimal, fee: Decimal) -> Fill:
    order, _ = order_intent_create(bot=bot, candle_ts=number, action="entry", side="buy",
                                   amount=amount)
    return Fill.objects.create(tenant=bot.tenant, order=order, bot=bot, account=bot.account,
                               trade_id=f"t-{number}", symbol=bot.symbol, side="buy",
                               amount=amount, price=price, fee=fee, timestamp_ms=number)


def test_it_reads_back_every_digit(bot):
    _balance(bot, "WIDE", WIDEST)
    _balance(bot, "ISSUE", ISSUE_VALUE)
    _balance(bot, "TINY", Decimal("0.000000000001"))
    stored = dict(PaperBalance.objects.filter(account=bot.account)
                  .values_list("currency", "free"))
    assert stored["WIDE"] == WIDEST
    assert stored["ISSUE"] == ISSUE_VALUE
    assert stored["TINY"] == Decimal("0.000000000001")
    # Same scale as numeric(28, 12) gives on PostgreSQL.
    assert str(stored["ISSUE"]) == "12345678.123456789012"


def test_it_keeps_the_value_a_save_rounds_to_twelve_places(bot):
    balance = _balance(bot, "ROUND", Decimal("1.0000000000005"))
    balance.refresh_from_db()
    assert balance.free == Decimal("1.000000000001")


def test_it_compares_and_sorts_by_value_not_by_text(bot):
    for currency, free in (("A", WIDEST), ("B", WIDEST - Decimal("0.000000000001")),
                           ("C", Decimal("9")), ("D", Decimal("10")), ("E", Decimal(0)),
                           ("F", Decimal("-2"))):
        _balance(bot, currency, free)
    balances = PaperBalance.objects.filter(account=bot.account).exclude(currency="USDT")
    assert list(balances.filter(free__gt=WIDEST - Decimal("0.000000000001"))
                .values_list("currency", flat=True)) == ["A"]
    assert list(balances.order_by("free").values_list("currency", flat=True)) == \
        ["F", "E", "C", "D", "B", "A"]
    assert set(balances.filter(free__gt=0).values_list("currency", flat=True)) == \
        {"A", "B", "C", "D"}
    assert balances.filter(free=Decimal("10.000")).get().currency == "D"


def test_it_sums_exactly(bot):
    amounts = [Decimal("0.100000000001"), Decimal("0.200000000002"),
               Decimal("1234567890123.300000000003")]
    for number, amount in enumerate(amounts, start=1):
        _fill(bot, number, amount, ISSUE_VALUE, Decimal("0.000000000001"))
    totals = Fill.objects.filter(bot=bot).aggregate(amount=MoneySum("amount"),
                                                    fee=MoneySum("fee"))
    assert totals == {"amount": Decimal("1234567890123.600000000006"),
                      "fee": Decimal("0.000000000003")}
    grouped = dict(Fill.objects.filter(bot=bot).values_list("side")
                   .annotate(total=MoneySum("amount")).order_by())
    assert grouped == {"buy": Decimal("1234567890123.600000000006")}
    assert Fill.objects.filter(bot=bot, trade_id="none").aggregate(
        total=MoneySum("amount")) == {"total": None}


def test_it_adds_exactly_in_an_update(bot):
    balance = _balance(bot, "ADD", ISSUE_VALUE)
    PaperBalance.objects.filter(pk=balance.pk).update(
        free=MoneyAdd(F("free"), Decimal("1000000000000000.000000000001")))
    balance.refresh_from_db()
    assert balance.free == Decimal("1000000012345678.123456789013")


def test_it_sums_differences_exactly(bot):
    """What working orders still offer: the sum of amount - filled, as the ledger asks it."""
    from trading.fields import MoneySubtract
    from trading.models import Order

    for number, (amount, filled) in enumerate(
            [(LEDGER_WIDE, Decimal("0.000000000001")), (ISSUE_VALUE, ISSUE_VALUE - 1)],
            start=1):
        order, _ = order_intent_create(bot=bot, candle_ts=number, action="exit", side="sell",
                                       amount=amount)
        Order.objects.filter(pk=order.pk).update(filled=filled)
    rest = Order.objects.filter(bot=bot).aggregate(
        rest=MoneySum(MoneySubtract(F("amount"), F("filled"))))["rest"]
    assert rest == Decimal("1000000000000000.999999999998")


def test_it_moves_paper_balances_and_pnl_exactly_on_a_fill(bot):
    """The ledger's own UPDATEs (paper balances, realized P&L) keep every digit."""
    PaperBalance.objects.filter(account=bot.account, currency="USDT").update(free=ISSUE_VALUE)
    order, _ = order_intent_create(bot=bot, candle_ts=1, action="entry", side="buy",
                                   amount=Decimal("0.000000000007"))
    fill = TradeFill(trade_id="exact-1", exchange_order_id="x",
                     client_order_id=order.client_order_id, symbol="BTC/USDT", side="buy",
                     amount=Decimal("0.000000000007"), price=Decimal("3"),
                     fee=Decimal("0.000000000001"), fee_currency="USDT",
                     timestamp_ms=1_700_000_000_000)
    fill_record(bot=bot, order=order, fill=fill)
    usdt = PaperBalance.objects.get(account=bot.account, currency="USDT")
    btc = PaperBalance.objects.get(account=bot.account, currency="BTC")
    assert usdt.free == ISSUE_VALUE - Decimal("0.000000000021") - Decimal("0.000000000001")
    assert btc.free == Decimal("0.000000000007")
    bot.refresh_from_db()
    assert bot.realized_pnl == Decimal("-0.000000000001")


def test_it_sums_todays_realized_pnl_exactly(bot):
    from notifications.selectors import tenant_status

    now = datetime(2026, 1, 2, 12, tzinfo=UTC)
    for pnl in (Decimal("1234567890.000000000001"), Decimal("0.000000000002")):
        Trade.objects.create(tenant=bot.tenant, bot=bot, symbol=bot.symbol,
                             status=Trade.Status.CLOSED, amount=Decimal(1),
                             entry_price=Decimal(1), entry_time=now, exit_time=now, pnl=pnl)
    status = tenant_status(tenant=bot.tenant, now=now)
    assert status.bots[0].realized_today == Decimal("1234567890.000000000003")
