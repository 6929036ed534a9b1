"""trading.core: the trading rules themselves, in plain Python and NumPy.

Strategies and their indicators, risk rules, the per-candle decision, candles, circuit
breakers, timeframes, working orders, money bounds, symbols and the whole backtester live
here. The live engine (trading.engine), the exchanges, market data, services and tasks are
adapters around this package: they fetch, store and send; the core decides.

The rule: nothing here imports Django, the ORM or the rest of the project, no exchange client
(ccxt), no torch. Only the standard library, NumPy, numba (the fast backtest path: its
ahead-of-time build, or the JIT on first use), pyarrow (candle files) and orjson (the backtest
command line's JSON). So a backtest, a live tick and a test run the same code,
and a strategy can never reach an exchange. tests/trading/test_core_is_pure.py checks it.
"""
