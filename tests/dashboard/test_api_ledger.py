"""orders / fills / trades / positions / thoughts lists: filters, ordering, pagination, a fixed
number of queries, and the same values as the detail view."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.dashboard.conftest import paper_bot
from tests.factories import make
from trading.engine import run_tick
from trading.models import Bot, EquitySnapshot, Fill, Order, Position, Thought, Trade

T0 = datetime(2030, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def order(bot: Bot, *, symbol="BTC/USDT", side="buy", status=Order.Status.CLOSED,
          minutes=0, amount="0.01") -> Order:
    return Order.objects.create(
        tenant_id=bot.tenant_id, bot=bot, account=bot.account, client_order_id=f"o-{next(_ids)}",
        symbol=symbol, side=side, amount=Decimal(amount), status=status, candle_ts=minutes,
        created_at=T0 + timedelta(minutes=minutes))


def fill(bot: Bot, *, symbol="BTC/USDT", side="buy", minutes=0) -> Fill:
    parent = order(bot, symbol=symbol, side=side, minutes=minutes)
    return Fill.objects.create(
        tenant_id=bot.tenant_id, order=parent, bot=bot, account=bot.account,
        trade_id=f"f-{next(_ids)}", symbol=symbol, side=side, amount=Decimal("0.01"),
        price=Decimal("30000"), fee=Decimal("0.3"), timestamp_ms=minutes * 60_000,
        created_at=T0 + timedelta(minutes=minutes))


def trade(bot: Bot, *, symbol="BTC/USDT", status=Trade.Status.CLOSED, minutes=0,
          pnl="1.5") -> Trade:
    return Trade.objects.create(
        tenant_id=bot.tenant_id, bot=bot, symbol=symbol, status=status, amount=Decimal("0.01"),
        entry_price=Decimal("30000"), exit_price=Decimal("30150"),
        entry_time=T0 + timedelta(minutes=minutes),
        exit_time=T0 + timedelta(minutes=minutes + 5), fees=Decimal("0.6"),
        pnl=Decimal(pnl), pnl_pct=Decimal("0.5"), exit_reason="signal")


def thought(bot: Bot, *, kind=Thought.Kind.DECISION, minutes=0) -> Thought:
    return Thought.objects.create(tenant_id=bot.tenant_id, bot=bot, kind=kind,
                                  summary=f"thought {minutes}", data={"m": minutes},
                                  created_at=T0 + timedelta(minutes=minutes))


def position(bot: Bot, *, symbol="BTC/USDT", amount="0.5") -> Position:
    return Position.objects.create(tenant_id=bot.tenant_id, bot=bot, symbol=symbol,
                                   amount=Decimal(amount), average_price=Decimal("30000"))


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def reader(world):
    return world.client_with_key(world.read_key_a)


@pytest.fixture
def bots(world):
    return make(Bot, world.tenant_a), make(Bot, world.tenant_a)


# --- default order and filters -----------------------------------------------------------------

def test_orders_come_newest_first(reader, bots):
    rows = [order(bots[0], minutes=m) for m in (5, 1, 9)]
    assert ids(reader.get("/api/v1/orders/")) == [rows[2].pk, rows[0].pk, rows[1].pk]


def test_orders_filter_by_bot_symbol_status_side_and_time(reader, bots):
    first, second = bots
    a = order(first, minutes=1)
    b = order(second, minutes=2, symbol="ETH/USDT", side="sell")
    c = order(first, minutes=3, status=Order.Status.REJECTED)
    url = "/api/v1/orders/"
    assert ids(reader.get(url, {"bot": first.pk})) == [c.pk, a.pk]
    assert ids(reader.get(url, {"symbol": "ETH/USDT"})) == [b.pk]
    assert ids(reader.get(url, {"status": "rejected"})) == [c.pk]
    assert ids(reader.get(url, {"side": "sell"})) == [b.pk]
    assert ids(reader.get(url, {"since": _iso(T0 + timedelta(minutes=2))})) == [c.pk, b.pk]
    assert ids(reader.get(url, {"until": _iso(T0 + timedelta(minutes=2))})) == [a.pk]
    assert ids(reader.get(url, {"bot": first.pk, "status": "closed"})) == [a.pk]


def test_orders_order_by_a_requested_field(reader, bots):
    rows = [order(bots[0], minutes=m) for m in (5, 1, 9)]
    assert ids(reader.get("/api/v1/orders/", {"ordering": "created_at"})) == [
        rows[1].pk, rows[0].pk, rows[2].pk]


def test_fills_filter_by_bot_symbol_side_and_time_and_come_newest_first(reader, bots):
    first, second = bots
    a = fill(first, minutes=1)
    b = fill(second, minutes=2, symbol="ETH/USDT", side="sell")
    c = fill(first, minutes=3)
    url = "/api/v1/fills/"
    assert ids(reader.get(url)) == [c.pk, b.pk, a.pk]
    assert ids(reader.get(url, {"bot": first.pk})) == [c.pk, a.pk]
    assert ids(reader.get(url, {"symbol": "ETH/USDT"})) == [b.pk]
    assert ids(reader.get(url, {"side": "sell"})) == [b.pk]
    assert ids(reader.get(url, {"since": _iso(T0 + timedelta(minutes=3))})) == [c.pk]
    assert ids(reader.get(url, {"ordering": "timestamp_ms"})) == [a.pk, b.pk, c.pk]


def test_trades_filter_by_bot_symbol_status_and_entry_time(reader, bots):
    first, second = bots
    a = trade(first, minutes=1)
    b = trade(second, minutes=2, symbol="ETH/USDT", status=Trade.Status.OPEN)
    c = trade(first, minutes=3)
    url = "/api/v1/trades/"
    assert ids(reader.get(url)) == [c.pk, b.pk, a.pk]
    assert ids(reader.get(url, {"bot": second.pk})) == [b.pk]
    assert ids(reader.get(url, {"symbol": "ETH/USDT"})) == [b.pk]
    assert ids(reader.get(url, {"status": "closed"})) == [c.pk, a.pk]
    window = {"since": _iso(T0 + timedelta(minutes=2)), "until": _iso(T0 + timedelta(minutes=3))}
    assert ids(reader.get(url, window)) == [b.pk]


def test_trades_order_by_pnl_both_ways(reader, bots):
    rows = [trade(bots[0], minutes=m, pnl=p) for m, p in ((1, "5"), (2, "-7.25"), (3, "0.5"))]
    by_pnl = [rows[1].pk, rows[2].pk, rows[0].pk]
    assert ids(reader.get("/api/v1/trades/", {"ordering": "pnl"})) == by_pnl
    assert ids(reader.get("/api/v1/trades/", {"ordering": "-pnl"})) == by_pnl[::-1]


def test_positions_filter_by_bot_and_symbol(reader, bots):
    first, second = bots
    a = position(first)
    b = position(second, symbol="ETH/USDT")
    assert set(ids(reader.get("/api/v1/positions/"))) == {a.pk, b.pk}
    assert ids(reader.get("/api/v1/positions/", {"bot": second.pk})) == [b.pk]
    assert ids(reader.get("/api/v1/positions/", {"symbol": "BTC/USDT"})) == [a.pk]


def test_thoughts_filter_by_bot_kind_and_time_and_come_newest_first(reader, bots):
    first, second = bots
    a = thought(first, minutes=1)
    b = thought(second, minutes=2, kind=Thought.Kind.BREAKER)
    c = thought(first, minutes=3)
    url = "/api/v1/thoughts/"
    assert ids(reader.get(url)) == [c.pk, b.pk, a.pk]
    assert ids(reader.get(url, {"bot": first.pk})) == [c.pk, a.pk]
    assert ids(reader.get(url, {"kind": "breaker"})) == [b.pk]
    assert ids(reader.get(url, {"until": _iso(T0 + timedelta(minutes=2))})) == [a.pk]
    assert reader.get(f"{url}{b.pk}/").json()["data"] == {"m": 2}


@pytest.mark.parametrize(("url", "params", "field"), [
    ("/api/v1/orders/", {"bot": "abc"}, "bot"),
    ("/api/v1/orders/", {"status": "bogus"}, "status"),
    ("/api/v1/trades/", {"since": "yesterday"}, "since"),
    ("/api/v1/fills/", {"side": "sideways"}, "side"),
    ("/api/v1/thoughts/", {"kind": "dream"}, "kind"),
])
def test_a_bad_filter_value_is_a_400_naming_it(reader, url, params, field):
    response = reader.get(url, params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


# --- pagination --------------------------------------------------------------------------------

def test_it_paginates_with_limit_and_offset_and_reports_the_count(reader, bots):
    rows = [order(bots[0], minutes=m) for m in range(7)]
    newest_first = [row.pk for row in reversed(rows)]
    page = reader.get("/api/v1/orders/", {"limit": 3, "offset": 3}).json()
    assert page["count"] == 7
    assert [row["id"] for row in page["results"]] == newest_first[3:6]
    assert "offset=6" in page["next"] and "limit=3" in page["next"]
    assert "limit=3" in page["previous"]
    last = reader.get("/api/v1/orders/", {"limit": 3, "offset": 6}).json()
    assert [row["id"] for row in last["results"]] == newest_first[6:]
    assert last["next"] is None


def test_it_pages_50_rows_by_default(reader, world):
    bot = make(Bot, world.tenant_a)
    Thought.objects.bulk_create(
        Thought(tenant=world.tenant_a, bot=bot, summary=str(n), created_at=T0) for n in range(55))
    body = reader.get("/api/v1/thoughts/").json()
    assert (body["count"], len(body["results"])) == (55, 50)


# --- a fixed number of queries -----------------------------------------------------------------

BUILDERS = {
    "/api/v1/orders/": lambda bot, n: order(bot, minutes=n),
    "/api/v1/fills/": lambda bot, n: fill(bot, minutes=n),
    "/api/v1/trades/": lambda bot, n: trade(bot, minutes=n),
    "/api/v1/thoughts/": lambda bot, n: thought(bot, minutes=n),
    "/api/v1/equity/": lambda bot, n: EquitySnapshot.objects.create(
        tenant_id=bot.tenant_id, bot=bot, candle_ts=n, equity=Decimal("1000"),
        cash=Decimal("1000")),
    "/api/v1/positions/": lambda bot, n: position(make(Bot, bot.tenant)),
}


@pytest.mark.parametrize("url", list(BUILDERS))
def test_a_list_costs_the_same_queries_for_1_row_as_for_30(world, reader, url,
                                                           django_assert_num_queries):
    bot = make(Bot, world.tenant_a)
    build = BUILDERS[url]
    build(bot, 0)
    reader.get(url)  # the key's last_used_at is touched once, on the first request
    # the key, the count, the page
    with django_assert_num_queries(3):
        assert len(reader.get(url).json()["results"]) == 1
    for n in range(1, 30):
        build(bot, n)
    with django_assert_num_queries(3):
        assert len(reader.get(url).json()["results"]) == 30


# --- the list and the detail agree -------------------------------------------------------------

@pytest.mark.parametrize(("url", "model"), [
    ("/api/v1/orders/", Order), ("/api/v1/fills/", Fill), ("/api/v1/trades/", Trade),
    ("/api/v1/positions/", Position), ("/api/v1/thoughts/", Thought),
    ("/api/v1/equity/", EquitySnapshot),
])
def test_a_list_row_is_exactly_the_detail_of_that_object(world, reader, url, model):
    instance = make(model, world.tenant_a)
    (row,) = reader.get(url).json()["results"]
    detail = reader.get(f"{url}{instance.pk}/")
    assert detail.status_code == 200
    assert row == detail.json()


def test_money_is_a_decimal_string_that_keeps_every_digit(reader, bots):
    placed = order(bots[0], amount="12345678.123456789012")
    stored = Order.objects.get(pk=placed.pk).amount  # SQLite keeps ~15 digits, PostgreSQL all
    (row,) = reader.get("/api/v1/orders/").json()["results"]
    assert isinstance(row["amount"], str)
    assert row["amount"] == format(stored, "f")
    assert len(row["amount"].split(".")[1]) == 12


# --- rows the engine wrote ---------------------------------------------------------------------

def test_the_engines_ledger_shows_up_in_every_list(world, market, reader):
    bot = paper_bot(world.tenant_a)
    other = paper_bot(world.tenant_a, name="other", parameters={"fast": 4, "slow": 12})
    for _ in range(150):
        market.step()
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
        run_tick(tenant_id=other.tenant_id, bot_id=other.pk)
    for url, model in (("orders", Order), ("fills", Fill), ("trades", Trade),
                       ("thoughts", Thought), ("equity", EquitySnapshot)):
        mine = model.objects.filter(bot=bot)
        assert mine.exists(), url
        body = reader.get(f"/api/v1/{url}/", {"bot": bot.pk, "limit": 1000}).json()
        assert body["count"] == mine.count(), url
        assert {row["id"] for row in body["results"]} == set(mine.values_list("pk", flat=True))
    closed = Order.objects.filter(bot=bot, status="closed").first()
    fills = reader.get("/api/v1/fills/", {"bot": bot.pk, "limit": 1000}).json()["results"]
    assert closed.pk in {row["order"] for row in fills}
    (held,) = reader.get("/api/v1/positions/", {"bot": bot.pk}).json()["results"]
    assert Decimal(held["amount"]) == Position.objects.get(bot=bot).amount
