"""Run a strategy through the fill rules: the reference path and the fast path.

`run_reference` is what a live bot does, spelled out: at every candle's close it recomputes the
strategy on the candles closed so far and keeps the last signal, then the plain-Python loop
fills it. `run_fast` computes every signal in one vectorised call and fills them with the
compiled loop. Both return the same SimulationResult, bit for bit, for an honest strategy.
"""
from __future__ import annotations

import numpy as np

from trading.core.backtest.config import BacktestConfig, ResolvedConfig
from trading.core.backtest.fast import simulate_fast
from trading.core.backtest.reference import simulate_reference
from trading.core.backtest.simulation import SimulationResult
from trading.core.candles import Candles


def resolved(config: BacktestConfig | ResolvedConfig) -> ResolvedConfig:
    """A validated config from either form."""
    return config if isinstance(config, ResolvedConfig) else config.resolve()


def tick_signals(candles: Candles, config: BacktestConfig | ResolvedConfig) -> np.ndarray:
    """Signals as live ticks see them: signal i from candles[:i+1] only (O(n²), for tests)."""
    config = resolved(config)
    signals = np.zeros(len(candles), dtype=np.int8)
    for index in range(len(candles)):
        signals[index] = config.strategy.signals(candles[: index + 1], config.params)[-1]
    return signals


def run_reference(candles: Candles, config: BacktestConfig | ResolvedConfig) -> SimulationResult:
    """The straightforward candle-by-candle backtest: tick signals, reference fill loop."""
    config = resolved(config)
    return simulate_reference(candles, tick_signals(candles, config), config.simulation())


def run_fast(candles: Candles, config: BacktestConfig | ResolvedConfig) -> SimulationResult:
    """The production backtest: vectorised signals, compiled fill loop."""
    config = resolved(config)
    signals = config.strategy.signals(candles, config.params)
    return simulate_fast(candles, signals, config.simulation())
