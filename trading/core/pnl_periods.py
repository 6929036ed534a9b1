"""Profit per day, week and month, and per pair, from closed trades (freqtrade's /daily,
/weekly, /monthly).

Sums are taken in Python over Decimals, so they are exact on SQLite (whose SUM is a float)
as on PostgreSQL. A trade counts in the period (UTC) of its exit time: the market's time,
the same clock as the trade tables. Periods with no trade are listed with zeros, so a table
of the last seven days always has seven rows.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from trading.core.errors import ValidationFailed

PERIODS = ("day", "week", "month")
# How many periods a table may ask for, on every surface (page, API, Telegram: 90 lines
# still fit one Telegram message).
MAX_PERIODS = {"day": 90, "week": 52, "month": 24}
ZERO = Decimal("0")


class ClosedTrade(Protocol):
    """What the tables read of a closed trade (a Trade row, or anything shaped like one)."""

    symbol: str
    exit_time: datetime
    pnl: Decimal


@dataclass(frozen=True)
class PeriodPnl:
    """One row: the period's first day, its closed trades, wins, and their P&L."""

    start: date
    trades: int
    wins: int
    pnl: Decimal


@dataclass(frozen=True)
class PairPnl:
    symbol: str
    trades: int
    wins: int
    pnl: Decimal


def period_start(day: date, period: str) -> date:
    """The first day of the period `day` falls in (weeks start on Monday)."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _previous(start: date, period: str) -> date:
    if period == "day":
        return start - timedelta(days=1)
    if period == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def check_period(period: str, count: int) -> None:
    """Raise ValidationFailed unless `period` is known and `count` within its bounds."""
    if period not in PERIODS:
        raise ValidationFailed(f"period must be one of {', '.join(PERIODS)}.", field="period")
    if not 1 <= count <= MAX_PERIODS[period]:
        raise ValidationFailed(f"count must be from 1 to {MAX_PERIODS[period]} for {period}s.",
                               field="count")


def pnl_by_period(trades: list[ClosedTrade], *, period: str, count: int,
                  today: date) -> list[PeriodPnl]:
    """The last `count` periods up to the one holding `today`, newest first."""
    check_period(period, count)
    totals: dict[date, list] = defaultdict(lambda: [0, 0, ZERO])
    for trade in trades:
        key = period_start(trade.exit_time.astimezone(UTC).date(), period)
        row = totals[key]
        row[0] += 1
        row[1] += trade.pnl > 0
        row[2] += trade.pnl
    rows, start = [], period_start(today, period)
    for _ in range(count):
        trades_n, wins, pnl = totals.get(start, (0, 0, ZERO))
        rows.append(PeriodPnl(start=start, trades=trades_n, wins=wins, pnl=pnl))
        start = _previous(start, period)
    return rows


def pnl_by_pair(trades: list[ClosedTrade]) -> list[PairPnl]:
    """Closed trades' P&L per symbol, best first."""
    totals: dict[str, list] = defaultdict(lambda: [0, 0, ZERO])
    for trade in trades:
        row = totals[trade.symbol]
        row[0] += 1
        row[1] += trade.pnl > 0
        row[2] += trade.pnl
    return sorted((PairPnl(symbol, n, wins, pnl) for symbol, (n, wins, pnl) in totals.items()),
                  key=lambda row: row.pnl, reverse=True)


def earliest_start(period: str, count: int, today: date) -> datetime:
    """The UTC midnight the oldest of `count` periods up to `today` starts at."""
    start = period_start(today, period)
    for _ in range(count - 1):
        start = _previous(start, period)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)
