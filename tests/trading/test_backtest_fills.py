"""The backtest's fill rules, hand-computed, checked on the reference and the compiled loop."""
from __future__ import annotations

import numpy as np
import pytest

from trading.core import risk
from trading.core.backtest.fast import simulate_fast
from trading.core.backtest.reference import simulate_reference
from trading.core.backtest.simulation import SimulationSettings
from trading.core.candles import Candles

HOUR_MS = 3_600_000
SIMULATORS = pytest.mark.parametrize("simulate", [simulate_reference, simulate_fast],
                                     ids=["reference", "fast"])


def make_candles(opens, closes, highs=None, lows=None, step_ms=HOUR_MS) -> Candles:
    """Candles from explicit prices; without highs/lows the wicks are the body (no wick)."""
    open_, close = np.array(opens, dtype=float), np.array(closes, dtype=float)
    high = np.maximum(open_, close) if highs is None else np.array(highs, dtype=float)
    low = np.minimum(open_, close) if lows is None else np.array(lows, dtype=float)
    return Candles(np.arange(open_.size, dtype=np.int64) * step_ms, open_, high, low, close,
                   np.ones(open_.size))


def settings(**overrides) -> SimulationSettings:
    values = {"cash": 1000.0, "fee_rate": 0.0, "slippage": 0.0, "stake_fraction": 1.0}
    return SimulationSettings(**(values | overrides))


def signals(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int8)


RISING = make_candles(opens=[10, 11, 12, 13, 14], closes=[10.5, 11.5, 12.5, 13.5, 14.5])


@SIMULATORS
def test_it_fills_at_next_open(simulate):
    result = simulate(RISING, signals(1, 0, 0, -1, 0), settings())
    trades = result.trades
    assert (trades.entry_index[0], trades.exit_index[0]) == (1, 4)
    assert (trades.entry_price[0], trades.exit_price[0]) == (11.0, 14.0)
    assert trades.units[0] == pytest.approx(1000 / 11)
    assert trades.pnl[0] == pytest.approx(1000 / 11 * 3)
    assert trades.reason[0] == risk.EXIT_SIGNAL


@SIMULATORS
def test_it_charges_the_fee_on_entry_and_exit_inside_the_stake(simulate):
    result = simulate(RISING, signals(1, 0, 0, -1, 0), settings(fee_rate=0.01))
    units = 1000 / (11 * 1.01)  # units = equity * stake / (open * (1 + fee))
    entry_fee, exit_fee = units * 11 * 0.01, units * 14 * 0.01
    trades = result.trades
    assert trades.units[0] == pytest.approx(units)
    assert trades.fees[0] == pytest.approx(entry_fee + exit_fee)
    assert trades.pnl[0] == pytest.approx(units * 14 - exit_fee - units * 11 - entry_fee)
    assert result.equity[-1] == pytest.approx(units * 14 - exit_fee)  # cash was all spent


@SIMULATORS
def test_cash_never_goes_negative_with_a_full_stake(simulate):
    result = simulate(RISING, signals(1, 0, 0, 0, 0), settings(fee_rate=0.004))
    units = result.trades.units[0]
    cash_after_entry = result.equity[1] - units * RISING.close[1]
    assert cash_after_entry >= 0.0
    assert cash_after_entry == pytest.approx(0.0, abs=1e-9)


@SIMULATORS
def test_a_partial_stake_keeps_the_rest_in_cash(simulate):
    result = simulate(RISING, signals(1, 0, 0, 0, 0), settings(stake_fraction=0.25))
    assert result.trades.units[0] * 11 == pytest.approx(250.0)
    assert result.equity[1] == pytest.approx(750 + 250 / 11 * 11.5)


@SIMULATORS
def test_it_marks_an_open_position_to_market_at_the_last_close(simulate):
    result = simulate(RISING, signals(1, 0, 0, 0, 0), settings(fee_rate=0.01))
    trades = result.trades
    units, entry_fee = 1000 / 11.11, 1000 / 11.11 * 11 * 0.01
    assert trades.is_open.tolist() == [True]
    assert trades.exit_price[0] == 14.5  # the last close, no sale
    assert trades.fees[0] == pytest.approx(entry_fee)  # no exit fee
    assert trades.pnl[0] == pytest.approx(units * 14.5 - units * 11 - entry_fee)
    assert trades.reason[0] == risk.EXIT_NONE
    assert result.equity[-1] == pytest.approx(units * 14.5)


@SIMULATORS
def test_the_last_candles_signal_never_fills(simulate):
    result = simulate(RISING, signals(0, 0, 0, 0, 1), settings())
    assert len(result.trades) == 0
    assert result.equity.tolist() == [1000.0] * 5


@SIMULATORS
def test_an_exit_signal_while_flat_does_nothing(simulate):
    result = simulate(RISING, signals(-1, -1, 0, 0, 0), settings())
    assert len(result.trades) == 0


@SIMULATORS
def test_an_entry_signal_while_holding_a_single_entry_position_is_ignored(simulate):
    result = simulate(RISING, signals(1, 1, 1, -1, 0), settings())
    assert result.trades.entries.tolist() == [1]
    assert result.trades.entry_price.tolist() == [11.0]


@SIMULATORS
def test_slippage_worsens_both_fills(simulate):
    result = simulate(RISING, signals(1, 0, 0, -1, 0), settings(slippage=0.01))
    assert result.trades.entry_price[0] == pytest.approx(11 * 1.01)
    assert result.trades.exit_price[0] == pytest.approx(14 * 0.99)


@SIMULATORS
def test_it_counts_exposure_at_closes_holding_a_position(simulate):
    result = simulate(RISING, signals(1, 0, -1, 0, 0), settings())
    assert result.exposure_candles == 2  # held at the closes of candles 1 and 2


# -- protections --------------------------------------------------------------------------

FALL = make_candles(opens=[100, 100, 99, 98, 97, 96], closes=[100, 99, 98, 97, 96, 95],
                    highs=[100, 101, 99, 98, 97, 96], lows=[100, 99, 90, 97, 96, 95])


@SIMULATORS
def test_stop_loss_sells_at_the_stop_price_inside_the_candle(simulate):
    result = simulate(FALL, signals(1, 0, 0, 0, 0, 0), settings(stop_loss_pct=5.0))
    trades = result.trades
    assert trades.reason.tolist() == [risk.EXIT_STOP_LOSS]
    assert trades.exit_index[0] == 2  # candle 2's low of 90 crosses 95
    assert trades.exit_price[0] == pytest.approx(95.0)


@SIMULATORS
def test_stop_loss_wins_when_both_levels_are_inside_one_candle(simulate):
    wide = make_candles(opens=[100, 100, 100], closes=[100, 100, 100],
                        highs=[100, 100, 120], lows=[100, 100, 80])
    result = simulate(wide, signals(1, 0, 0), settings(stop_loss_pct=5, take_profit_pct=5))
    assert result.trades.reason.tolist() == [risk.EXIT_STOP_LOSS]
    assert result.trades.exit_price[0] == pytest.approx(95.0)


@SIMULATORS
def test_stop_loss_fills_at_the_open_after_a_gap_down(simulate):
    gap = make_candles(opens=[100, 100, 90], closes=[100, 100, 91])
    result = simulate(gap, signals(1, 0, 0), settings(stop_loss_pct=5))
    assert result.trades.exit_price[0] == 90.0


@SIMULATORS
def test_take_profit_sells_at_the_target(simulate):
    up = make_candles(opens=[100, 100, 101], closes=[100, 101, 104], highs=[100, 101, 112])
    result = simulate(up, signals(1, 0, 0), settings(take_profit_pct=10, fee_rate=0.001))
    assert result.trades.reason.tolist() == [risk.EXIT_TAKE_PROFIT]
    assert result.trades.exit_price[0] == pytest.approx(110.0)


@SIMULATORS
def test_cooldown_blocks_entries_right_after_a_stop_loss(simulate):
    candles = make_candles(opens=[100] * 8, closes=[100] * 8, lows=[100, 100, 90] + [100] * 5)
    result = simulate(candles, signals(1, 0, 1, 1, 1, 1, 0, 0),
                      settings(stop_loss_pct=5, cooldown_candles=2))
    # stopped out in candle 2; candles 3 and 4 are the cooldown; the next entry fills at 5
    assert result.trades.entry_index.tolist() == [1, 5]
    assert result.trades.reason.tolist() == [risk.EXIT_STOP_LOSS, risk.EXIT_NONE]


@SIMULATORS
def test_max_drawdown_closes_the_position_and_pauses_the_run(simulate):
    candles = make_candles(opens=[100, 100, 95, 85, 86, 90, 95], closes=[100, 95, 85, 86, 90,
                                                                           95, 99])
    result = simulate(candles, signals(1, 0, 0, 0, 1, 1, 0), settings(max_drawdown_pct=10))
    # equity at close 2 is 85 % of the peak: the close-out sells at the open of candle 3
    assert result.pause_index == 2
    assert result.trades.reason.tolist() == [risk.EXIT_MAX_DRAWDOWN]
    assert result.trades.exit_index.tolist() == [3]
    assert result.trades.exit_price[0] == 85.0  # no entry after the pause
    assert result.equity[-1] == pytest.approx(850.0)


@SIMULATORS
def test_daily_loss_limit_blocks_entries_until_the_next_utc_day(simulate):
    # six-hourly candles: day 0 is candles 0-3, day 1 is candles 4-7
    candles = make_candles(opens=[100, 100, 96, 96, 96, 96, 96, 96],
                           closes=[100, 96, 96, 96, 96, 96, 96, 96], step_ms=6 * HOUR_MS)
    result = simulate(candles, signals(1, -1, 1, 0, 1, 0, 0, 0),
                      settings(daily_loss_limit_pct=3))
    # -4 % at candle 1's close: the entry signalled at candle 2 is refused; day 1 allows one
    assert result.trades.entry_index.tolist() == [1, 5]


@SIMULATORS
def test_multi_entry_positions_add_up_to_the_entry_limit_and_exit_whole(simulate):
    candles = make_candles(opens=[100, 100, 80, 50, 50, 60, 70], closes=[100, 80, 50, 50, 60,
                                                                          70, 70])
    result = simulate(candles, signals(1, 1, 1, 1, 0, -1, 0),
                      settings(stake_fraction=0.9, entry_limit=3))
    trades = result.trades
    # three buys of 30 % of equity (the fourth is refused): 300 at 100; then equity
    # 700 + 3 * 80 = 940 -> 282 at 80; then 418 + 6.525 * 50 = 744.25 -> 223.275 at 50
    costs = [300.0, 282.0, 223.275]
    units = sum(cost / price for cost, price in zip(costs, [100, 80, 50], strict=True))
    assert trades.entries.tolist() == [3]
    assert trades.units[0] == pytest.approx(units)
    assert trades.entry_price[0] == pytest.approx(sum(costs) / units)
    assert trades.exit_index[0] == 6
    assert trades.pnl[0] == pytest.approx(units * 70 - sum(costs))


@SIMULATORS
def test_a_zero_open_price_in_the_data_buys_nothing(simulate):
    zero = make_candles(opens=[10, 0, 10, 11], closes=[10, 10, 11, 12], lows=[10, 0, 10, 11])
    result = simulate(zero, signals(1, 1, 0, 0), settings())
    assert result.trades.entry_index.tolist() == [2]  # the signal of candle 1 fills at 2
