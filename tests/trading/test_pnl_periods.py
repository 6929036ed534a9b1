"""Profit per day, week and month, and per pair: exact sums, empty periods listed, the market's
clock, bounds shared by every surface."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from aitrader.errors import ValidationFailed
from trading.core.pnl_periods import MAX_PERIODS, pnl_by_pair, pnl_by_period


@dataclass
class Closed:
    symbol: str
    exit_time: datetime
    pnl: Decimal


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


TRADES = [Closed("BTC/USDT", at("2026-03-02"), Decimal("0.1")),
          Closed("BTC/USDT", at("2026-03-02", 23), Decimal("0.2")),
          Closed("ETH/USDT", at("2026-03-04"), Decimal("-0.05")),
          Closed("ETH/USDT", at("2026-02-27"), Decimal("1.000000000001"))]


def test_days_are_exact_and_empty_days_are_listed():
    rows = pnl_by_period(TRADES, period="day", count=3, today=date(2026, 3, 4))
    assert [(r.start, r.trades, r.wins, r.pnl) for r in rows] == [
        (date(2026, 3, 4), 1, 0, Decimal("-0.05")), (date(2026, 3, 3), 0, 0, Decimal("0")),
        (date(2026, 3, 2), 2, 2, Decimal("0.3"))]  # 0.1 + 0.2 exactly, not 0.30000000000000004


def test_weeks_start_on_monday_and_months_on_the_first():
    weeks = pnl_by_period(TRADES, period="week", count=2, today=date(2026, 3, 4))
    assert [(w.start, w.pnl) for w in weeks] == [(date(2026, 3, 2), Decimal("0.25")),
                                                (date(2026, 2, 23), Decimal("1.000000000001"))]
    months = pnl_by_period(TRADES, period="month", count=2, today=date(2026, 3, 31))
    assert [(m.start, m.trades) for m in months] == [(date(2026, 3, 1), 3), (date(2026, 2, 1), 1)]


def test_pairs_are_summed_best_first():
    assert [(p.symbol, p.trades, p.pnl) for p in pnl_by_pair(TRADES)] == [
        ("ETH/USDT", 2, Decimal("0.950000000001")), ("BTC/USDT", 2, Decimal("0.3"))]


@pytest.mark.parametrize(("period", "count"), [("day", 0), ("day", MAX_PERIODS["day"] + 1),
                                               ("month", MAX_PERIODS["month"] + 1), ("year", 3)])
def test_it_refuses_counts_and_periods_outside_the_bounds(period, count):
    with pytest.raises(ValidationFailed):
        pnl_by_period(TRADES, period=period, count=count, today=date(2026, 3, 4))
