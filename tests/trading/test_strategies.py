"""Strategies: declared parameters, the signal contract, hand-computed signals, presets."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aitrader.errors import ValidationFailed
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import Candles
from trading.core.strategies import STRATEGIES, Param, get_strategy, strategy_list
from trading.core.strategies.indicators import rolling_mean, rolling_std, rolling_sum, rsi
from trading.core.strategies.presets import PRESETS, RiskSettings, risk_for

HOUR_MS = 3_600_000
# The rule-based strategies this file covers; ml_signal needs a trained model (mlmodels tests).
RULE_BASED = ("bollinger_breakout", "dca", "grid", "rsi_reversion", "sma_cross")


def candles_with_closes(closes: list[float]) -> Candles:
    """Hourly candles whose open is the previous close, with wicks 1 % around the body."""
    close = np.array(closes, dtype=float)
    open_ = np.concatenate(([close[0]], close[:-1]))
    return Candles(np.arange(close.size, dtype=np.int64) * HOUR_MS, open_,
                   np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99, close,
                   np.ones(close.size))


# -- parameters ---------------------------------------------------------------------------

def test_it_coerces_cli_strings_to_declared_types():
    params = get_strategy("sma_cross").validate_params({"fast": "5", "slow": " 12 "})
    assert params == {"fast": 5, "slow": 12}
    grid = get_strategy("grid").validate_params({"levels": "7", "range_pct": "2.5",
                                                 "spacing": "geometric"})
    assert (grid["levels"], grid["range_pct"], grid["spacing"]) == (7, 2.5, "geometric")


def test_it_applies_defaults_for_missing_params():
    assert get_strategy("rsi_reversion").validate_params({}) == {
        "period": 14, "oversold": 30.0, "overbought": 70.0}


@pytest.mark.parametrize("raw, field", [
    ({"fast": "0"}, "fast"),  # below minimum
    ({"slow": 10_000}, "slow"),  # above maximum
    ({"fast": "ten"}, "fast"),  # not a number
    ({"fast": "2.5"}, "fast"),  # not whole
    ({"fast": True}, "fast"),  # a bool is not a count
    ({"speed": 3}, "speed"),  # unknown name
    ({"fast": 20, "slow": 10}, "fast"),  # cross-field rule
])
def test_it_rejects_bad_params_naming_the_field(raw, field):
    with pytest.raises(ValidationFailed) as caught:
        get_strategy("sma_cross").validate_params(raw)
    assert caught.value.field == field
    assert field in caught.value.message


def test_bool_param_accepts_common_words_and_rejects_others():
    flag = Param("trail", "bool", False)
    assert [flag.coerce(word) for word in ("yes", "0", "TRUE", "off", True)] == [
        True, False, True, False, True]
    with pytest.raises(ValidationFailed):
        flag.coerce("maybe")


def test_choice_param_rejects_values_outside_its_choices():
    with pytest.raises(ValidationFailed) as caught:
        get_strategy("grid").validate_params({"spacing": "log"})
    assert caught.value.field == "spacing"


def test_float_param_rejects_nan_and_infinity():
    for raw in ("nan", "inf"):
        with pytest.raises(ValidationFailed):
            get_strategy("dca").validate_params({"take_profit_pct": raw})


def test_grid_rejects_an_inverted_range():
    with pytest.raises(ValidationFailed) as caught:
        get_strategy("grid").validate_params({"lower": 110, "upper": 90})
    assert caught.value.field == "lower"


def test_get_strategy_names_the_strategy_field_for_unknown_keys():
    with pytest.raises(ValidationFailed) as caught:
        get_strategy("martingale")
    assert caught.value.field == "strategy"
    assert "sma_cross" in caught.value.message


def test_strategy_list_describes_every_registered_strategy_as_json():
    listed = strategy_list()
    assert {row["key"] for row in listed} >= set(RULE_BASED)
    assert [row["key"] for row in listed] == sorted(row["key"] for row in listed)
    sma = next(row for row in listed if row["key"] == "sma_cross")
    assert [param["name"] for param in sma["params"]] == ["fast", "slow"]
    assert sma["params"][0] | {"description": ""} == {
        "name": "fast", "type": "int", "default": 10, "minimum": 1, "maximum": 1000,
        "choices": [], "description": ""}
    json.dumps(listed)  # the API returns it as is


def test_entry_limit_follows_the_params_of_multi_entry_strategies():
    assert get_strategy("sma_cross").entry_limit({}) == 1
    assert get_strategy("dca").entry_limit({"safety_orders": 3}) == 4
    assert get_strategy("grid").entry_limit({"levels": 12}) == 12


# -- the signal contract ------------------------------------------------------------------

@pytest.mark.parametrize("key", RULE_BASED)
def test_each_signal_uses_only_candles_closed_so_far(key):
    # What a live tick computes on candles[:i+1] must equal the backtest's signal i.
    candles = random_walk_candles(160, seed=11, volatility=0.01, timeframe_ms=HOUR_MS)
    params = {"sma_cross": {"fast": 3, "slow": 7}, "rsi_reversion": {"period": 5},
              "bollinger_breakout": {"period": 6, "std_dev": 1.0},
              "dca": {"interval": 5, "safety_step_pct": 1.0, "take_profit_pct": 1.0},
              "grid": {"range_pct": 5.0}}[key]
    strategy = STRATEGIES[key]
    full = strategy.signals(candles, params)
    ticks = [strategy.signals(candles[: index + 1], params)[-1] for index in range(len(candles))]
    assert full.dtype == np.int8
    assert np.array_equal(full, np.array(ticks, dtype=np.int8))
    assert np.count_nonzero(full) > 0  # the data exercises the strategy


@pytest.mark.parametrize("key", RULE_BASED)
def test_signals_are_zero_during_warmup(key):
    strategy = STRATEGIES[key]
    candles = random_walk_candles(80, seed=3, volatility=0.02)
    warmup = strategy.warmup({})
    assert not strategy.signals(candles, {})[:warmup].any()


def test_signals_handle_fewer_candles_than_warmup():
    candles = candles_with_closes([1.0, 2.0, 3.0])
    assert get_strategy("sma_cross").signals(candles, {}).tolist() == [0, 0, 0]


# -- indicators ---------------------------------------------------------------------------

@pytest.mark.parametrize("window", [1, 2, 3, 7, 16, 20, 45, 200])
def test_rolling_sum_is_exact_and_bit_for_bit_local_to_its_window(window):
    values = np.random.default_rng(window).normal(30_000, 50, 600)
    sums = rolling_sum(values, window)
    naive = [values[index - window + 1: index + 1].sum() for index in range(window - 1, 600)]
    assert np.allclose(sums[window - 1:], naive, rtol=1e-13)
    assert np.isnan(sums[: window - 1]).all()
    # a live tick that feeds only the last candles computes the very same bits
    later = rolling_sum(values[100:], window)
    assert np.array_equal(sums[100 + window - 1:], later[window - 1:])


def test_rolling_mean_and_std_match_hand_values():
    values = np.array([10.0, 10.0, 13.0, 10.0])
    assert np.allclose(rolling_mean(values, 3), [np.nan, np.nan, 11.0, 11.0], equal_nan=True)
    # window (10, 10, 13): mean 11, deviations (-1, -1, 2) -> sqrt(6 / 3)
    assert rolling_std(values, 3)[2] == pytest.approx(2.0 ** 0.5)


def test_cutler_rsi_matches_hand_values():
    closes = np.array([10.0, 11, 12, 11, 10, 9, 10, 11])
    # changes +1 +1 -1 -1 -1 +1 +1; RSI(2) = 100 * gains / (gains + losses) over 2 changes
    assert np.allclose(rsi(closes, 2), [np.nan, np.nan, 100, 50, 0, 0, 50, 100],
                       equal_nan=True)


def test_rsi_is_neutral_when_price_does_not_move():
    assert rsi(np.full(6, 5.0), 3)[3:].tolist() == [50.0, 50.0, 50.0]


# -- hand-computed signals ----------------------------------------------------------------

def test_sma_cross_enters_on_cross_above_and_exits_on_cross_below():
    # SMA2 - SMA3 from candle 2: -0.5 -0.5 -0.17 +0.5 +0.5 +0.17 -0.5 -0.5
    candles = candles_with_closes([5, 4, 3, 2, 3, 4, 5, 4, 3, 2])
    signals = get_strategy("sma_cross").signals(candles, {"fast": 2, "slow": 3})
    assert signals.tolist() == [0, 0, 0, 0, 0, 1, 0, 0, -1, 0]


def test_rsi_reversion_buys_the_cross_up_from_oversold_and_sells_overbought():
    candles = candles_with_closes([10, 11, 12, 11, 10, 9, 10, 11])  # RSI(2) as above
    signals = get_strategy("rsi_reversion").signals(candles, {"period": 2})
    assert signals.tolist() == [0, 0, 0, 0, 0, 0, 1, -1]


def test_bollinger_breakout_buys_above_upper_band_and_exits_below_middle():
    # candle 4: window (10, 10, 13), upper = 11 + sqrt(2) < 13; candle 5: close 10 < mean 11
    candles = candles_with_closes([10, 10, 10, 10, 13, 10])
    signals = get_strategy("bollinger_breakout").signals(candles, {"period": 3, "std_dev": 1})
    assert signals.tolist() == [0, 0, 0, 0, 1, -1]


def test_dca_buys_on_dips_and_takes_profit_above_the_average():
    # buys at 100, 89 (-11 %), 80 (-10.1 %); average 3 / (1/100 + 1/89 + 1/80) = 88.93,
    # target +5 % = 93.37 -> sells at 95; the next deal waits `interval` candles.
    candles = candles_with_closes([100, 100, 89, 89, 80, 95, 95, 95, 95])
    params = {"interval": 3, "safety_orders": 2, "safety_step_pct": 10, "take_profit_pct": 5}
    assert get_strategy("dca").signals(candles, params).tolist() == [1, 0, 1, 0, 1, -1, 0, 0, 1]


def test_dca_stops_adding_after_its_safety_orders():
    candles = candles_with_closes([100, 89, 79, 70, 60])
    params = {"interval": 50, "safety_orders": 2, "safety_step_pct": 10}
    assert get_strategy("dca").signals(candles, params).tolist() == [1, 1, 1, 0, 0]


def test_dca_buys_again_every_interval_while_the_deal_is_open():
    candles = candles_with_closes([100.0] * 7)
    assert get_strategy("dca").signals(candles, {"interval": 3}).tolist() == [
        1, 0, 0, 1, 0, 0, 1]


def test_grid_buys_each_level_crossed_down_and_sells_the_stack_one_level_above_average():
    # levels 90 95 100 105 110; buys at 100 then 95 (average 97.4); exit at the 100+5 = 105 level
    candles = candles_with_closes([102, 99, 96, 94, 97, 101, 104, 106])
    params = {"lower": 90, "upper": 110, "levels": 5}
    assert get_strategy("grid").signals(candles, params).tolist() == [0, 1, 0, 1, 0, 0, 0, -1]


def test_grid_keeps_one_slice_per_level():
    candles = candles_with_closes([102, 99, 101, 99])
    params = {"lower": 90, "upper": 110, "levels": 5}
    assert get_strategy("grid").signals(candles, params).tolist() == [0, 1, 0, 0]


def test_grid_centres_an_automatic_range_on_the_first_close():
    levels = get_strategy("grid").price_levels(100.0, get_strategy("grid").validate_params(
        {"levels": 5, "range_pct": 10}))
    assert np.allclose(levels, [90, 95, 100, 105, 110])


# -- presets ------------------------------------------------------------------------------

def test_presets_grow_stake_and_stops_from_conservative_to_aggressive():
    order = [PRESETS[name] for name in ("conservative", "balanced", "aggressive")]
    for field in ("stake_fraction", "stop_loss_pct", "max_drawdown_pct"):
        values = [getattr(preset, field) for preset in order]
        assert values == sorted(values) and len(set(values)) == 3, field


def test_bare_risk_settings_are_the_backtest_contract():
    settings = risk_for(None)
    assert settings == RiskSettings()
    assert settings.stake_fraction == 1.0
    assert (settings.stop_loss_pct, settings.take_profit_pct, settings.max_drawdown_pct) == (
        None, None, None)


def test_risk_for_applies_overrides_on_top_of_a_preset():
    settings = risk_for("balanced", {"stop_loss_pct": "2.5", "take_profit_pct": ""})
    assert settings.stop_loss_pct == 2.5
    assert settings.take_profit_pct is None
    assert settings.stake_fraction == PRESETS["balanced"].stake_fraction


@pytest.mark.parametrize("overrides, field", [
    ({"stake_fraction": 1.5}, "stake_fraction"),
    ({"stop_loss_pct": 0}, "stop_loss_pct"),
    ({"cooldown_candles": 2.5}, "cooldown_candles"),
    ({"max_open_positions": 0}, "max_open_positions"),
    ({"max_drawdown_pct": "lots"}, "max_drawdown_pct"),
    ({"leverage": 10}, "leverage"),
])
def test_risk_settings_reject_bad_values_naming_the_field(overrides, field):
    with pytest.raises(ValidationFailed) as caught:
        RiskSettings.from_dict(overrides)
    assert caught.value.field == field


def test_unknown_preset_names_the_preset_field():
    with pytest.raises(ValidationFailed) as caught:
        risk_for("yolo")
    assert caught.value.field == "preset"


def test_risk_settings_round_trip_through_json():
    settings = PRESETS["conservative"]
    assert RiskSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
