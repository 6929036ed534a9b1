"""The fast path (vectorised signals + compiled loop) equals the reference, bit for bit."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.core.backtest import BacktestConfig, run_fast, run_reference
from trading.core.backtest.fast import simulate_fast
from trading.core.backtest.reference import simulate_reference
from trading.core.backtest.simulation import SimulationSettings
from trading.core.backtest.synthetic import random_walk_candles

TIMEFRAMES = st.sampled_from([60_000, 3_600_000, 4 * 3_600_000])
PERCENT_OR_OFF = st.sampled_from([0.0, 0.5, 1.0, 3.0, 8.0])

random_candles = st.builds(
    random_walk_candles, count=st.integers(2, 240), seed=st.integers(0, 2**32 - 1),
    timeframe_ms=TIMEFRAMES, volatility=st.sampled_from([0.002, 0.01, 0.03]))

simulation_settings = st.builds(
    SimulationSettings, cash=st.floats(100.0, 1e6), fee_rate=st.sampled_from([0, 0.001, 0.02]),
    slippage=st.sampled_from([0.0, 0.0005, 0.01]), stake_fraction=st.floats(0.05, 1.0),
    entry_limit=st.integers(1, 5), stop_loss_pct=PERCENT_OR_OFF,
    take_profit_pct=PERCENT_OR_OFF, max_drawdown_pct=st.sampled_from([0.0, 5.0, 15.0]),
    daily_loss_limit_pct=PERCENT_OR_OFF, cooldown_candles=st.integers(0, 4))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candles=random_candles, simulation=simulation_settings, data=st.data())
def test_compiled_loop_equals_reference_loop_on_random_signals(candles, simulation, data):
    signals = np.array(data.draw(st.lists(st.sampled_from([-1, 0, 0, 0, 1]),
                                          min_size=len(candles), max_size=len(candles))),
                       dtype=np.int8)
    fast = simulate_fast(candles, signals, simulation)
    reference = simulate_reference(candles, signals, simulation)
    assert fast.equals(reference)


STRATEGY_PARAMS = st.one_of(
    st.tuples(st.just("sma_cross"), st.integers(1, 8).flatmap(
        lambda fast: st.fixed_dictionaries({"fast": st.just(fast),
                                            "slow": st.integers(fast + 1, 25)}))),
    st.tuples(st.just("rsi_reversion"), st.fixed_dictionaries(
        {"period": st.integers(2, 20), "oversold": st.floats(10, 45),
         "overbought": st.floats(55, 90)})),
    st.tuples(st.just("bollinger_breakout"), st.fixed_dictionaries(
        {"period": st.integers(2, 30), "std_dev": st.floats(0.2, 3.0)})),
    st.tuples(st.just("dca"), st.fixed_dictionaries(
        {"interval": st.integers(1, 30), "safety_orders": st.integers(0, 5),
         "safety_step_pct": st.floats(0.2, 5), "take_profit_pct": st.floats(0.2, 5)})),
    st.tuples(st.just("grid"), st.fixed_dictionaries(
        {"levels": st.integers(2, 30), "range_pct": st.floats(1, 20),
         "spacing": st.sampled_from(["arithmetic", "geometric"])})),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candles=random_candles, strategy=STRATEGY_PARAMS,
       preset=st.sampled_from([None, "conservative", "balanced", "aggressive"]),
       fee=st.sampled_from([0.0, 0.001]), slippage=st.sampled_from([0.0, 0.001]))
def test_fast_backtest_equals_tick_by_tick_reference_for_every_strategy(candles, strategy,
                                                                        preset, fee, slippage):
    key, params = strategy
    config = BacktestConfig(strategy=key, params=params, preset=preset, fee=fee,
                            slippage=slippage)
    fast, reference = run_fast(candles, config), run_reference(candles, config)
    assert np.array_equal(fast.signals, reference.signals)
    assert fast.equals(reference)


def test_the_property_data_reaches_every_exit_path():
    # Guard against a generator too tame to test anything: one seeded run hits them all.
    candles = random_walk_candles(3000, seed=7, volatility=0.02, timeframe_ms=3_600_000)
    signals = np.random.default_rng(7).choice([-1, 0, 0, 0, 1], size=3000).astype(np.int8)
    simulation = SimulationSettings(cash=1000.0, fee_rate=0.001, slippage=0.0,
                                    stake_fraction=0.5, entry_limit=3, stop_loss_pct=3.0,
                                    take_profit_pct=3.0, max_drawdown_pct=40.0)
    result = simulate_fast(candles, signals, simulation)
    assert set(result.trades.reason.tolist()) >= {1, 2, 3}
    assert result.pause_index > 0
    assert result.equals(simulate_reference(candles, signals, simulation))
