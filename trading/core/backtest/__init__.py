"""The backtester: the live strategy classes through the live risk rules, fast, with a report.

Public API: BacktestConfig, run_backtest, sweep, check_lookahead, run_fast, run_reference.
"""
from trading.core.backtest.config import BacktestConfig, ResolvedConfig
from trading.core.backtest.lookahead import check_lookahead
from trading.core.backtest.run_paths import run_fast, run_reference
from trading.core.backtest.runner import run_backtest, sweep

__all__ = ["BacktestConfig", "ResolvedConfig", "check_lookahead", "run_backtest", "run_fast",
           "run_reference", "sweep"]
