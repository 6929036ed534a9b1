"""The backtester: the live strategy classes through the live risk rules, fast, with a report.

Public API: BacktestConfig, run_backtest, sweep, check_lookahead, run_fast, run_reference.
"""
from trading.backtest.config import BacktestConfig, ResolvedConfig
from trading.backtest.engine import run_fast, run_reference
from trading.backtest.lookahead import check_lookahead
from trading.backtest.runner import run_backtest, sweep

__all__ = ["BacktestConfig", "ResolvedConfig", "check_lookahead", "run_backtest", "run_fast",
           "run_reference", "sweep"]
