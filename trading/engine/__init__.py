"""The live engine: ticks that read shared candles, sync orders, decide, act, record, publish.

An adapter around trading.core (the decision, risk rules, strategies): it reads the database
and the market feed, places orders through trading.services, and writes what a tick did. By
topic: `run` (entry points: one tick, a tenant's batch, every due bot), `batch` (what a batch
preloads and writes, its lease), `tick` (one bot's tick), `feed` and `strategy_signals` (what a
tick reads), `decision_inputs` (what a decision sees), `order_flow` (carrying it out),
`failures` (breakers) and `closing` ("close all").
"""
from trading.engine.batch import IDLE_RECHECK, TickBatch, TickLease, TickOutcome
from trading.engine.failures import EXPECTED_FAILURES
from trading.engine.feed import bot_market_snapshot
from trading.engine.run import (
    TICK_BATCH_SIZE,
    close_all,
    run_due_ticks,
    run_tick,
    run_ticks,
    tick_batches,
)
from trading.engine.strategy_signals import SIGNAL_MEMO_LIMIT, forget_signal_memo

__all__ = ["EXPECTED_FAILURES", "IDLE_RECHECK", "SIGNAL_MEMO_LIMIT", "TICK_BATCH_SIZE",
           "TickBatch", "TickLease", "TickOutcome", "bot_market_snapshot", "close_all",
           "forget_signal_memo", "run_due_ticks", "run_tick", "run_ticks", "tick_batches"]
