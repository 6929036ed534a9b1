"""The data a fill simulation takes and gives: settings, trade log, result.

Shared by the reference loop (reference.py) and the compiled one (fast.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

DAY_MS = 86_400_000
# An entry smaller than this fraction of equity is dust (cash already spent): skipped.
DUST_FRACTION = 1e-9


@dataclass(frozen=True)
class SimulationSettings:
    """Everything the fill loop needs, as plain numbers (percentages: 0 means off)."""

    cash: float
    fee_rate: float
    slippage: float
    stake_fraction: float
    entry_limit: int = 1
    stop_loss_pct: float = 0.0
    take_profit_pct: float = 0.0
    max_drawdown_pct: float = 0.0
    daily_loss_limit_pct: float = 0.0
    cooldown_candles: int = 0

    @property
    def entry_stake(self) -> float:
        """Fraction of equity one entry stakes: the position's stake split across entries."""
        return self.stake_fraction / self.entry_limit


@dataclass
class TradeLog:
    """Round trips as columns, in exit order; the open position (if any) is last."""

    entry_index: np.ndarray  # candle whose open filled the first entry
    exit_index: np.ndarray  # candle in which it was sold (last candle for an open trade)
    entries: np.ndarray  # number of buys (DCA / grid add to a position)
    units: np.ndarray
    entry_price: np.ndarray  # average fill price of the buys
    exit_price: np.ndarray  # fill price of the sale; last close for an open trade
    invested: np.ndarray  # cost of the buys plus their fees
    fees: np.ndarray  # entry and exit fees
    pnl: np.ndarray  # net of all fees
    reason: np.ndarray  # risk.EXIT_*; EXIT_NONE for an open trade
    is_open: np.ndarray

    def __len__(self) -> int:
        return int(self.entry_index.shape[0])

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> TradeLog:
        """From tuples in field order (the reference loop's records)."""
        dtypes = (np.int64, np.int64, np.int64, *(np.float64,) * 6, np.int8, np.bool_)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(dtypes)
        return cls(*(np.array(column, dtype=dtype) for column, dtype in zip(
            columns, dtypes, strict=True)))

    def closed(self) -> TradeLog:
        """Only the trades that were sold (metrics count these)."""
        keep = ~self.is_open
        return TradeLog(*(getattr(self, name)[keep] for name in _TRADE_FIELDS))

    def equals(self, other: TradeLog) -> bool:
        """Bit-for-bit equality of every column."""
        return all(np.array_equal(getattr(self, name), getattr(other, name))
                   for name in _TRADE_FIELDS)


_TRADE_FIELDS = tuple(item.name for item in fields(TradeLog))


@dataclass
class SimulationResult:
    """What the fill loop produced; the report is built from this alone."""

    equity: np.ndarray  # at every candle's close
    trades: TradeLog
    exposure_candles: int  # closes at which a position was held
    pause_index: int  # candle whose close breached max drawdown; -1 if never
    signals: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))

    def equals(self, other: SimulationResult) -> bool:
        """True when equity, trades and counters are bit-for-bit identical."""
        return (np.array_equal(self.equity, other.equity) and self.trades.equals(other.trades)
                and self.exposure_candles == other.exposure_candles
                and self.pause_index == other.pause_index)


