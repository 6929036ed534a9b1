"""/api/v1/equity/: snapshots per bot, and portfolio/ summing every bot of the tenant."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import make
from trading.models import Bot, EquitySnapshot

PORTFOLIO = "/api/v1/equity/portfolio/"
MINUTE = 60_000


def snap(bot: Bot, candle_ts: int, equity: str) -> EquitySnapshot:
    return EquitySnapshot.objects.create(tenant_id=bot.tenant_id, bot=bot, candle_ts=candle_ts,
                                         equity=Decimal(equity), cash=Decimal(equity))


def points(response) -> list[tuple[int, Decimal]]:
    assert response.status_code == 200, response.content
    return [(point["candle_ts"], Decimal(str(point["equity"]))) for point in response.json()]


@pytest.fixture
def reader(world):
    return world.client_with_key(world.read_key_a)


@pytest.fixture
def two_bots(world):
    """A 1m-ish bot with three snapshots and a slower bot with two; tenant B has a huge one."""
    fast, slow = make(Bot, world.tenant_a), make(Bot, world.tenant_a)
    snap(fast, 1 * MINUTE, "1000")
    snap(fast, 2 * MINUTE, "1010.5")
    snap(fast, 3 * MINUTE, "995.25")
    snap(slow, 2 * MINUTE, "500")
    snap(slow, 4 * MINUTE, "520")
    snap(make(Bot, world.tenant_b), 2 * MINUTE, "99999")
    return fast, slow


def test_the_portfolio_sums_each_bots_latest_equity_over_time(reader, two_bots):
    assert points(reader.get(PORTFOLIO)) == [
        (1 * MINUTE, Decimal("1000")),
        (2 * MINUTE, Decimal("1510.5")),     # 1010.5 + 500
        (3 * MINUTE, Decimal("1495.25")),    # 995.25 + 500 (slow carries its last value)
        (4 * MINUTE, Decimal("1515.25")),    # 995.25 + 520
    ]


def test_the_portfolio_never_includes_another_tenants_equity(world, two_bots):
    mine = points(world.client_with_key(world.read_key_b).get(PORTFOLIO))
    assert mine == [(2 * MINUTE, Decimal("99999"))]
    assert all(value < 90_000 for _, value in
               points(world.client_with_key(world.read_key_a).get(PORTFOLIO)))


def test_a_window_keeps_the_totals_of_the_full_series(reader, two_bots):
    full = points(reader.get(PORTFOLIO))
    assert points(reader.get(PORTFOLIO, {"since_ts": 3 * MINUTE})) == full[2:]
    assert points(reader.get(PORTFOLIO, {"until_ts": 3 * MINUTE})) == full[:2]


def test_the_portfolio_of_a_tenant_without_bots_is_empty(reader):
    assert reader.get(PORTFOLIO).json() == []


def test_the_portfolio_thins_a_long_series_but_keeps_the_latest_total(world, reader):
    bot = make(Bot, world.tenant_a)
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(tenant=world.tenant_a, bot=bot, candle_ts=n * MINUTE,
                       equity=Decimal(1000 + n), cash=Decimal(1000)) for n in range(1, 106))
    series = points(reader.get(PORTFOLIO, {"points": 10}))
    assert 10 <= len(series) <= 12
    assert series[0] == (MINUTE, Decimal("1001"))
    assert series[-1] == (105 * MINUTE, Decimal("1105"))


def test_a_non_numeric_window_is_a_400(reader):
    response = reader.get(PORTFOLIO, {"since_ts": "yesterday"})
    assert response.status_code == 400
    assert "yesterday" in response.json()["error"]["message"]


def test_the_portfolio_needs_a_credential(db, client):
    assert client.get(PORTFOLIO).status_code == 401


def test_equity_lists_a_bots_snapshots_in_time_order(reader, two_bots):
    fast, _slow = two_bots
    rows = reader.get("/api/v1/equity/", {"bot": fast.pk}).json()["results"]
    assert [(row["candle_ts"], Decimal(row["equity"])) for row in rows] == [
        (1 * MINUTE, Decimal("1000")), (2 * MINUTE, Decimal("1010.5")),
        (3 * MINUTE, Decimal("995.25"))]


def test_equity_filters_by_candle_time(reader, two_bots):
    body = reader.get("/api/v1/equity/", {"since_ts": 2 * MINUTE, "until_ts": 4 * MINUTE}).json()
    assert sorted(row["candle_ts"] for row in body["results"]) == [
        2 * MINUTE, 2 * MINUTE, 3 * MINUTE]
    assert body["count"] == 3


def test_equity_orders_newest_first_on_request(reader, two_bots):
    rows = reader.get("/api/v1/equity/", {"ordering": "-candle_ts"}).json()["results"]
    assert [row["candle_ts"] for row in rows] == [4 * MINUTE, 3 * MINUTE, 2 * MINUTE,
                                                  2 * MINUTE, MINUTE]
