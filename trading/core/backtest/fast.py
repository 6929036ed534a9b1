"""The production fill loop: `fill_loop.simulate_loop`, compiled.

Compiled ahead of time (aot.py) when that build is current, so the process never loads numba;
else by numba's JIT on first use. Both compile the same function and give the same result as
`reference.simulate_reference`, bit for bit (tests/trading/test_backtest_fast.py and
test_backtest_aot.py hold it).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from trading.core.backtest.simulation import DAY_MS, SimulationResult, SimulationSettings, TradeLog
from trading.core.candles import Candles


@functools.cache
def fill_kernel() -> Callable:
    """The compiled loop this process runs: the ahead-of-time build, else numba's JIT."""
    # Imported here, so that `python -m trading.core.backtest.aot` (the build) does not find
    # itself already imported by the package.
    from trading.core.backtest import aot

    compiled = aot.load()
    if compiled is not None:
        return compiled
    # numba + LLVM (~55 MB) load on the first backtest, not in every web process.
    from trading.core.backtest.fill_loop import simulate_loop

    return simulate_loop


def simulate_fast(candles: Candles, signals: np.ndarray, settings: SimulationSettings,
                  kernel: Callable | None = None) -> SimulationResult:
    """The same result as `reference.simulate_reference`, from the compiled loop (`kernel`:
    a build of `fill_loop.simulate_loop`, by default `fill_kernel()`)."""
    signals = np.ascontiguousarray(signals, dtype=np.int8)
    # Every trade starts with an entry signal, and one more row for safety when there is none.
    capacity = int(np.count_nonzero(signals == 1)) + 1
    # The ahead-of-time build takes exactly these types (aot.SIGNATURE); no copy when they are.
    prices = (np.asarray(column, dtype=np.float64)
              for column in (candles.open, candles.high, candles.low, candles.close))
    days = np.asarray(candles.timestamp // DAY_MS, dtype=np.int64)
    equity, rows, exposure, pause_index = (kernel or fill_kernel())(
        *prices, days, signals, float(settings.cash), float(settings.fee_rate),
        float(settings.slippage), float(settings.entry_stake), int(settings.entry_limit),
        float(settings.stop_loss_pct), float(settings.take_profit_pct),
        float(settings.max_drawdown_pct), float(settings.daily_loss_limit_pct),
        int(settings.cooldown_candles), capacity)
    return SimulationResult(equity, _trade_log(rows), int(exposure), int(pause_index), signals)


def _trade_log(rows: np.ndarray) -> TradeLog:
    columns = rows.T
    return TradeLog(
        entry_index=columns[0].astype(np.int64), exit_index=columns[1].astype(np.int64),
        entries=columns[2].astype(np.int64), units=columns[3].copy(),
        entry_price=columns[4].copy(), exit_price=columns[5].copy(),
        invested=columns[6].copy(), fees=columns[7].copy(), pnl=columns[8].copy(),
        reason=columns[9].astype(np.int8), is_open=columns[10].astype(np.bool_))
