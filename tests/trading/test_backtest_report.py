"""run_backtest end to end: the report contract, lookahead check, presets, sweep."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aitrader.errors import ValidationFailed
from trading.core.backtest import (
    BacktestConfig,
    check_lookahead,
    run_backtest,
    run_fast,
    run_reference,
    sweep,
)
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import Candles
from trading.core.strategies import STRATEGIES, Strategy

HOUR_MS = 3_600_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def candles_with_closes(closes: list[float]) -> Candles:
    """Hourly candles from 2024-01-01 whose open is the previous close."""
    close = np.array(closes, dtype=float)
    open_ = np.concatenate(([close[0]], close[:-1]))
    return Candles(START_MS + np.arange(close.size, dtype=np.int64) * HOUR_MS, open_,
                   np.maximum(open_, close), np.minimum(open_, close), close,
                   np.ones(close.size))


SMA_CONFIG = BacktestConfig(strategy="sma_cross", params={"fast": 2, "slow": 3}, cash=10_000,
                            fee=0.002)


def test_report_has_the_contract_keys_and_is_strict_json():
    report = run_backtest(random_walk_candles(2000, seed=1), SMA_CONFIG)
    assert set(report) == {"config", "period", "metrics", "definitions", "exit_reasons",
                           "monthly", "trades", "equity", "lookahead", "pause", "pairs",
                           "daily", "drawdowns"}
    assert {"trades", "final_equity", "return_pct", "max_drawdown_pct", "sharpe", "sortino",
            "calmar", "win_rate_pct", "profit_factor", "exposure_pct",
            "buy_hold_return_pct"} <= set(report["metrics"])
    assert set(report["trades"][0]) >= {"entry_time", "exit_time", "entry_price", "exit_price",
                                        "amount", "pnl", "open"}
    json.dumps(report, allow_nan=False)  # no NaN or infinity sneaks in


def test_report_trade_follows_the_fill_contract():
    # SMA(2/3) signals +1 on candle 5 and -1 on candle 8 (see test_strategies), so the trade
    # fills at the opens of candles 6 and 9, which are the closes of candles 5 and 8.
    candles = candles_with_closes([5, 4, 3, 2, 3, 4, 5, 4, 3, 2])
    report = run_backtest(candles, SMA_CONFIG)
    units = 10_000 / (4 * 1.002)
    [trade] = report["trades"]
    assert trade["entry_time"] == "2024-01-01T06:00:00Z"
    assert trade["exit_time"] == "2024-01-01T09:00:00Z"
    assert (trade["entry_price"], trade["exit_price"], trade["open"]) == (4.0, 3.0, False)
    assert trade["amount"] == pytest.approx(units)
    assert trade["pnl"] == pytest.approx(units * 3 * 0.998 - 10_000)
    assert trade["exit_reason"] == "signal"
    metrics = report["metrics"]
    assert (metrics["trades"], metrics["win_rate_pct"]) == (1, 0.0)
    assert metrics["final_equity"] == pytest.approx(units * 3 * 0.998)
    assert metrics["fees_paid"] == pytest.approx(units * 4 * 0.002 + units * 3 * 0.002)


def test_an_open_position_is_reported_open_and_left_out_of_the_trade_count():
    candles = candles_with_closes([5, 4, 3, 2, 3, 4, 5, 6])
    report = run_backtest(candles, SMA_CONFIG)
    [trade] = report["trades"]
    assert trade["open"] is True
    assert trade["exit_price"] == 6.0  # marked at the last close
    assert report["metrics"]["trades"] == 0
    assert report["metrics"]["final_equity"] == pytest.approx(10_000 / (4 * 1.002) * 6)


def test_equity_curve_is_downsampled_but_metrics_use_every_candle():
    candles = random_walk_candles(50_000, seed=2)
    report = run_backtest(candles, BacktestConfig(strategy="sma_cross", equity_points=200,
                                                  lookahead_check=False))
    assert len(report["equity"]) <= 202
    assert report["metrics"]["candles"] == 50_000
    assert report["equity"][-1][1] == pytest.approx(report["metrics"]["final_equity"])
    assert report["lookahead"] is None


def test_progress_climbs_to_100():
    seen: list[float] = []
    run_backtest(random_walk_candles(500, seed=4), SMA_CONFIG, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 100.0
    assert seen == sorted(seen)
    assert len(seen) >= 5


@pytest.mark.parametrize("changes, field", [
    ({"fee": -0.1}, "fee"), ({"cash": 0}, "cash"), ({"stake": 1.5}, "stake"),
    ({"slippage": "lots"}, "slippage"), ({"preset": "yolo"}, "preset"),
    ({"strategy": "nope"}, "strategy"), ({"params": {"fast": 0}}, "fast"),
    ({"risk": {"stop_loss_pct": -1}}, "stop_loss_pct"),
])
def test_run_backtest_rejects_bad_settings_naming_the_field(changes, field):
    config = BacktestConfig.from_dict(SMA_CONFIG.to_dict() | changes)
    with pytest.raises(ValidationFailed) as caught:
        run_backtest(random_walk_candles(50, seed=1), config)
    assert caught.value.field == field


def test_a_single_candle_is_not_enough():
    with pytest.raises(ValidationFailed) as caught:
        run_backtest(random_walk_candles(1), SMA_CONFIG)
    assert caught.value.field == "data"


def test_config_from_dict_refuses_unknown_keys():
    with pytest.raises(ValidationFailed) as caught:
        BacktestConfig.from_dict({"strategy": "sma_cross", "leverage": 10})
    assert caught.value.field == "leverage"


def test_a_preset_brings_its_stop_loss_and_the_stake_flag_overrides_its_stake():
    candles = random_walk_candles(3000, seed=5, volatility=0.02, timeframe_ms=HOUR_MS)
    config = BacktestConfig(strategy="sma_cross", preset="conservative", stake=0.5,
                            lookahead_check=False)
    report = run_backtest(candles, config)
    assert report["config"]["risk"]["stake_fraction"] == 0.5
    assert report["config"]["risk"]["stop_loss_pct"] == 3.0
    reasons = {row["reason"] for row in report["exit_reasons"]}
    assert "stop_loss" in reasons
    first = report["trades"][0]
    assert first["amount"] * first["entry_price"] == pytest.approx(5000 / 1.001)


def test_max_drawdown_pause_is_reported():
    candles = random_walk_candles(3000, seed=5, volatility=0.02, timeframe_ms=HOUR_MS)
    config = BacktestConfig(strategy="sma_cross", risk={"max_drawdown_pct": 5},
                            lookahead_check=False)
    report = run_backtest(candles, config)
    assert report["pause"]["reason"] == "max_drawdown"
    assert report["trades"][-1]["exit_reason"] == "max_drawdown"
    assert report["trades"][-1]["exit_time"] > report["pause"]["time"]


def test_sweep_ranks_combinations_and_lists_invalid_ones_last():
    candles = random_walk_candles(5000, seed=6)
    rows = sweep(candles, BacktestConfig(strategy="sma_cross", lookahead_check=False),
                 {"fast": [5, 10, 30], "slow": [20, 40]})
    valid = [row for row in rows if "metrics" in row]
    assert len(valid) == 5 and len(rows) == 6
    returns = [row["metrics"]["return_pct"] for row in valid]
    assert returns == sorted(returns, reverse=True)
    assert rows[-1]["params"] == {"fast": 30, "slow": 20}
    assert "smaller than slow" in rows[-1]["error"]
    best = run_backtest(candles, BacktestConfig(strategy="sma_cross", params=valid[0]["params"],
                                                lookahead_check=False))
    assert best["metrics"]["return_pct"] == returns[0]


# -- lookahead ----------------------------------------------------------------------------

class PeekingStrategy(Strategy):
    """Cheats: buys when the NEXT close is higher, sells when it is lower."""

    key = "peeking"

    @classmethod
    def compute(cls, candles, params):
        upcoming = np.append(candles.close[1:], candles.close[-1])
        return np.sign(upcoming - candles.close).astype(np.int8)


def test_lookahead_check_catches_a_strategy_that_reads_the_next_candle():
    candles = random_walk_candles(400, seed=8)
    verdict = check_lookahead(PeekingStrategy, candles, {})
    assert verdict["ok"] is False
    mismatch = verdict["mismatches"][0]
    assert mismatch["index"] == mismatch["cut"] - 1  # the last candle before each cut
    assert mismatch["full"] != mismatch["truncated"]
    assert "LOOKAHEAD" in verdict["message"]


@pytest.mark.parametrize("key", ["bollinger_breakout", "dca", "grid", "rsi_reversion",
                                 "sma_cross"])
def test_lookahead_check_passes_every_rule_based_strategy(key):
    verdict = check_lookahead(STRATEGIES[key], random_walk_candles(600, seed=9, volatility=0.01),
                              STRATEGIES[key].validate_params({}))
    assert verdict["ok"] is True
    assert len(verdict["cuts"]) == 4


def test_report_flags_lookahead_and_the_fast_path_stops_matching_live_ticks(monkeypatch):
    monkeypatch.setitem(STRATEGIES, "peeking", PeekingStrategy)
    candles = random_walk_candles(300, seed=10)
    config = BacktestConfig(strategy="peeking")
    report = run_backtest(candles, config)
    assert report["lookahead"]["ok"] is False
    # the cheater's backtest is too good: live ticks (the reference) cannot reproduce it
    assert not run_fast(candles, config).equals(run_reference(candles, config))


def test_a_zero_price_candle_still_gives_a_strict_json_report():
    candles = candles_with_closes([0.0, 5, 4, 3, 2, 3, 4, 5, 4, 3, 2])
    report = run_backtest(candles, SMA_CONFIG)
    assert report["metrics"]["buy_hold_return_pct"] is None  # from a price of 0
    json.dumps(report, allow_nan=False)
