"""Risk rules shared by the backtest and the live engine."""
from __future__ import annotations

import math

import pytest

from trading.core import risk


def test_position_units_keep_the_fee_inside_the_stake():
    units = risk.position_units(1000.0, 1.0, 100.0, 0.001)
    assert units == pytest.approx(1000 / 100.1)
    cost, fee = units * 100.0, units * 100.0 * 0.001
    assert cost + fee == pytest.approx(1000.0)


def test_position_units_scale_with_the_stake_fraction():
    assert risk.position_units(1000.0, 0.25, 50.0, 0.0) == pytest.approx(5.0)


def test_affordable_units_spend_at_most_the_cash():
    assert risk.affordable_units(202.0, 100.0, 0.01) == pytest.approx(2.0)


def test_stop_loss_and_take_profit_prices_follow_the_average_entry():
    assert risk.stop_loss_price(200.0, 5.0) == pytest.approx(190.0)
    assert risk.take_profit_price(200.0, 10.0) == pytest.approx(220.0)


def test_zero_percent_switches_stop_loss_and_take_profit_off():
    assert risk.stop_loss_price(200.0, 0.0) == -math.inf
    assert risk.take_profit_price(200.0, 0.0) == math.inf
    assert risk.protective_exit(100.0, 1e9, 0.0, -math.inf, math.inf) == (risk.EXIT_NONE, 0.0)


def test_protective_exit_fires_the_stop_loss_at_its_price():
    assert risk.protective_exit(100.0, 101.0, 94.0, 95.0, 110.0) == (risk.EXIT_STOP_LOSS, 95.0)


def test_protective_exit_fires_the_take_profit_at_its_price():
    assert risk.protective_exit(100.0, 111.0, 99.0, 95.0, 110.0) == (risk.EXIT_TAKE_PROFIT,
                                                                     110.0)


def test_protective_exit_assumes_the_stop_loss_first_when_both_are_hit():
    assert risk.protective_exit(100.0, 120.0, 80.0, 95.0, 110.0) == (risk.EXIT_STOP_LOSS, 95.0)


def test_protective_exit_fills_a_gap_at_the_open():
    assert risk.protective_exit(90.0, 92.0, 88.0, 95.0, 110.0) == (risk.EXIT_STOP_LOSS, 90.0)
    assert risk.protective_exit(115.0, 118.0, 112.0, 95.0, 110.0) == (risk.EXIT_TAKE_PROFIT,
                                                                      115.0)


def test_protective_exit_does_nothing_inside_the_band():
    assert risk.protective_exit(100.0, 109.0, 96.0, 95.0, 110.0) == (risk.EXIT_NONE, 0.0)


def test_drawdown_pct_measures_the_fall_from_the_peak():
    assert risk.drawdown_pct(200.0, 150.0) == pytest.approx(25.0)
    assert risk.drawdown_pct(0.0, 10.0) == 0.0


def test_drawdown_breached_at_the_limit_and_not_before():
    assert risk.drawdown_breached(100.0, 80.0, 20.0)
    assert not risk.drawdown_breached(100.0, 80.01, 20.0)
    assert not risk.drawdown_breached(100.0, 1.0, 0.0)  # 0: off


def test_daily_loss_breached_against_the_days_opening_equity():
    assert risk.daily_loss_breached(1000.0, 970.0, 3.0)
    assert not risk.daily_loss_breached(1000.0, 971.0, 3.0)
    assert not risk.daily_loss_breached(1000.0, 10.0, 0.0)


def test_cooldown_blocks_the_candles_right_after_a_stop_loss():
    assert [risk.cooldown_active(index, 10, 3) for index in range(10, 15)] == [
        True, True, True, True, False]
    assert not risk.cooldown_active(11, 10, 0)
    assert not risk.cooldown_active(0, -1, 5)  # no stop loss yet


def test_can_open_position_respects_the_limit():
    assert risk.can_open_position(1, 2)
    assert not risk.can_open_position(2, 2)


def test_every_exit_reason_has_a_name():
    assert risk.EXIT_REASONS == {1: "signal", 2: "stop_loss", 3: "take_profit",
                                 4: "max_drawdown"}
