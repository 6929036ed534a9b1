"""Paper fill rules, checked against hand-computed fills and as properties."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.exchanges.base import InvalidOrder
from trading.exchanges.paper_fills import Bar, FillConfig, SimulatedFill, simulate_fill

CONFIG = FillConfig(slippage=D("0.001"), maker_fee=D("0.0002"), taker_fee=D("0.001"),
                    max_volume_fraction=D("0.1"))


def bar(open_: str = "100", high: str = "105", low: str = "95", close: str = "102",
        volume: str = "1000") -> Bar:
    return Bar(D(open_), D(high), D(low), D(close), D(volume))


def fill(side: str, type_: str, amount: str, limit: str | None = None, *, candle: Bar = None,
         resting: bool = False, config: FillConfig = CONFIG) -> SimulatedFill:
    return simulate_fill(side=side, type=type_, amount=D(amount),
                         limit_price=D(limit) if limit else None, bar=candle or bar(),
                         config=config, resting=resting)


def test_a_market_buy_fills_at_the_next_open_plus_slippage_as_taker():
    result = fill("buy", "market", "2")

    # 100 * 1.001 = 100.1; fee 0.001 * 2 * 100.1 = 0.2002
    assert result == SimulatedFill(filled=D("2"), average=D("100.1"), fee=D("0.2002"),
                                   remaining=D("0"), is_maker=False)


def test_a_market_sell_fills_at_the_next_open_minus_slippage():
    result = fill("sell", "market", "2")

    assert (result.average, result.fee) == (D("99.9"), D("0.1998"))


def test_an_order_takes_at_most_its_share_of_the_candle_volume():
    result = fill("buy", "market", "50", candle=bar(volume="200"))

    # 10 % of 200 = 20 fill now, 30 remain for later candles
    assert (result.filled, result.remaining) == (D("20.0"), D("30.0"))
    assert result.fee == D("0.001") * D("20") * D("100.1")


def test_nothing_fills_on_a_candle_without_volume():
    result = fill("buy", "market", "1", candle=bar(volume="0"))

    assert (result.filled, result.average, result.fee, result.remaining) == \
        (D(0), None, D(0), D("1"))


def test_a_limit_buy_above_the_low_waits():
    result = fill("buy", "limit", "1", "94.99")

    assert (result.filled, result.remaining, result.average) == (D(0), D("1"), None)


def test_a_limit_buy_touched_inside_the_candle_fills_at_its_limit_as_maker():
    result = fill("buy", "limit", "1", "97")

    assert (result.filled, result.average, result.is_maker) == (D("1"), D("97"), True)
    assert result.fee == D("0.0002") * D("97")


def test_a_limit_buy_reached_exactly_at_the_low_fills():
    assert fill("buy", "limit", "1", "95").average == D("95")


def test_a_new_limit_buy_already_below_market_takes_at_the_open():
    # The open (100) is below the limit (101): min(open, limit), and it took liquidity.
    result = fill("buy", "limit", "1", "101")

    assert (result.average, result.is_maker) == (D("100"), False)
    assert result.fee == D("0.001") * D("100")


def test_a_resting_limit_buy_gapped_through_fills_at_its_limit_as_maker():
    result = fill("buy", "limit", "1", "101", resting=True)

    assert (result.average, result.is_maker) == (D("101"), True)


def test_a_limit_sell_fills_when_the_high_reaches_it():
    assert fill("sell", "limit", "1", "105.01").filled == D(0)
    touched = fill("sell", "limit", "1", "104")
    arriving_marketable = fill("sell", "limit", "1", "99")

    assert (touched.average, touched.is_maker) == (D("104"), True)
    assert (arriving_marketable.average, arriving_marketable.is_maker) == (D("100"), False)


def test_a_partly_filled_limit_order_keeps_its_remainder():
    result = fill("sell", "limit", "150", "104", candle=bar(volume="1000"))

    assert (result.filled, result.remaining) == (D("100.0"), D("50.0"))
    assert result.notional == D("100.0") * D("104")


@pytest.mark.parametrize(("side", "type_", "amount", "limit"), [
    ("hold", "market", "1", None),
    ("buy", "stop", "1", None),
    ("buy", "market", "0", None),
    ("buy", "market", "-1", None),
    ("buy", "limit", "1", None),
    ("sell", "limit", "1", "0"),
])
def test_it_refuses_orders_it_cannot_simulate(side, type_, amount, limit):
    with pytest.raises(InvalidOrder):
        fill(side, type_, amount, limit)


@pytest.mark.parametrize("config", [
    {"slippage": D("-0.1")}, {"maker_fee": D("1")}, {"max_volume_fraction": D("0")},
    {"max_volume_fraction": D("1.5")},
])
def test_its_config_rejects_nonsense(config):
    with pytest.raises(ValueError):
        FillConfig(**config)


def test_bar_from_a_ccxt_row_keeps_the_decimal_digits():
    assert Bar.from_row([1, 50000.1, 50010.0, 49990.5, 50001.25, 12.5]) == \
        Bar(D("50000.1"), D("50010.0"), D("49990.5"), D("50001.25"), D("12.5"))


prices = st.decimals(min_value="1", max_value="100000", places=2)


@st.composite
def bars(draw) -> Bar:
    open_, close = draw(prices), draw(prices)
    high = max(open_, close) + draw(st.decimals(min_value="0", max_value="500", places=2))
    low = max(D("0.01"), min(open_, close) - draw(st.decimals(min_value="0", max_value="500",
                                                              places=2)))
    return Bar(open_, high, low, close, draw(st.decimals(min_value="0", max_value="1000",
                                                         places=3)))


@given(candle=bars(), side=st.sampled_from(["buy", "sell"]),
       type_=st.sampled_from(["market", "limit"]), limit=prices, resting=st.booleans(),
       amount=st.decimals(min_value="0.001", max_value="500", places=3))
def test_fills_obey_the_rules_for_any_candle(candle, side, type_, limit, resting, amount):
    result = simulate_fill(side=side, type=type_, amount=amount, limit_price=limit, bar=candle,
                           config=CONFIG, resting=resting)

    assert result.filled + result.remaining == amount
    assert D(0) <= result.filled <= CONFIG.max_volume_fraction * candle.volume
    if not result.filled:
        assert result.average is None and result.fee == 0
        return
    rate = CONFIG.maker_fee if result.is_maker else CONFIG.taker_fee
    assert result.fee == rate * result.filled * result.average
    if type_ == "market":
        assert not result.is_maker
        assert (result.average > candle.open) if side == "buy" else \
            (result.average < candle.open)
    else:
        # Never worse than the limit; a new order gets a price the candle traded at, a
        # resting one its own limit (no price improvement when the market gaps through it).
        assert result.average <= limit if side == "buy" else result.average >= limit
        if resting:
            assert result.average == limit and result.is_maker
        else:
            assert candle.low <= result.average <= candle.high
