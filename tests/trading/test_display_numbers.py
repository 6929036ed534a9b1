"""Thoughts and tables write numbers the same way (trading.core.display): a large price is
grouped and never in scientific notation, an amount keeps its 8 places without trailing
zeros, and the page filters give the same text."""
from __future__ import annotations

from decimal import Decimal

import pytest

from dashboard.templatetags.money import crypto, price
from trading.core.decisions import BotView, MarketView, manual_entry, manual_exit
from trading.core.display import amount_text, grouped, price_text
from trading.core.strategies.presets import PRESETS


@pytest.mark.parametrize("value, text", [
    (123_456_789.5, "123,456,789.50"),   # .8g would have written 1.2345679e+08
    (50_000.125, "50,000.13"),
    (0.000123, "0.000123"),
    (Decimal("-2.5"), "\u22122.50"),
])
def test_prices_read_like_the_tables(value, text):
    assert price_text(value) == text == price(value)


@pytest.mark.parametrize("value, text", [
    (0.00125, "0.00125"), (1250, "1,250"), (Decimal("0.123456789"), "0.12345679"), (0, "0"),
])
def test_amounts_read_like_the_tables(value, text):
    assert amount_text(value) == text == crypto(value)


def test_a_negative_zero_has_no_minus():
    assert grouped(Decimal("-0.001"), 2) == "0.00"


def _bot(**changes) -> BotView:
    fields = dict(equity=10_000_000.0, peak_equity=10_000_000.0, day_start_equity=1e7,
                  position_amount=0.0, average_price=0.0, entries=0, entry_limit=1,
                  fee_rate=0.001, slippage=0.0, in_cooldown=False, open_positions_elsewhere=0)
    return BotView(**(fields | changes))


def test_a_thought_writes_a_large_price_and_amount_as_the_tables_do():
    market = MarketView(candle_ts=0, open=123_456_789.5, high=123_456_789.5,
                        low=123_456_789.5, close=123_456_789.5, signal=1)
    decision = manual_entry(market, _bot(), PRESETS["balanced"])
    assert "at about 123,456,789.50" in decision.summary
    assert "e+" not in decision.summary
    assert amount_text(decision.amount) in decision.summary


def test_a_manual_exit_names_the_amount_like_the_tables():
    decision = manual_exit(_bot(position_amount=0.125, average_price=50_000.0), 0.5)
    assert decision.summary == "By hand: selling 50% of the position (0.0625)."
