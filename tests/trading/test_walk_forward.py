"""The sweep's pure core: the grid, its bounds, the out-of-sample split and the ranking."""
from __future__ import annotations

import pytest

from trading.core.backtest import walk_forward as wf
from trading.core.backtest.config import BacktestConfig
from trading.core.backtest.runner import run_backtest
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.errors import ValidationFailed
from trading.core.strategies import get_strategy

SMA = get_strategy("sma_cross")
RSI = get_strategy("rsi_reversion")


def field_of(call) -> str | None:
    with pytest.raises(ValidationFailed) as raised:
        call()
    return raised.value.field


# --- The grid -----------------------------------------------------------------------------------

def test_it_expands_a_range_and_a_list():
    grid = wf.expand_grid(SMA, {"fast": {"min": 5, "max": 15, "step": 5}, "slow": ["20", 40]})
    assert grid == {"fast": [5, 10, 15], "slow": [20, 40]}
    assert wf.combination_count(grid) == 6
    assert wf.combinations(grid)[:3] == [{"fast": 5, "slow": 20}, {"fast": 5, "slow": 40},
                                         {"fast": 10, "slow": 20}]


def test_a_whole_number_range_steps_by_one_by_default():
    assert wf.expand_grid(SMA, {"fast": {"min": 3, "max": 6}}) == {"fast": [3, 4, 5, 6]}


def test_a_float_range_steps_exactly():
    grid = wf.expand_grid(RSI, {"oversold": {"min": "20", "max": "20.3", "step": "0.1"}})
    assert grid == {"oversold": [20.0, 20.1, 20.2, 20.3]}


def test_repeated_values_count_once():
    assert wf.expand_grid(SMA, {"fast": [5, "5", 5.0, 6]}) == {"fast": [5, 6]}


@pytest.mark.parametrize(("spec", "field"), [
    ({}, "grid"),
    ([], "grid"),
    ({"lookback": [3]}, "lookback"),
    ({"fast": "5,10"}, "fast"),
    ({"fast": []}, "fast"),
    ({"fast": [0]}, "fast"),
    ({"fast": ["five"]}, "fast"),
    ({"fast": {"min": 5}}, "fast"),
    ({"fast": {"min": 5, "max": 3}}, "fast"),
    ({"fast": {"min": 5, "max": 10, "step": 0}}, "fast"),
    ({"fast": {"min": 5, "max": 10, "step": -1}}, "fast"),
    ({"fast": {"min": 5, "max": 10, "step": "nan"}}, "fast"),
    ({"fast": {"min": 5, "max": 10, "every": 1}}, "fast"),
    ({"fast": {"min": 5, "max": 10, "step": 2.5}}, "fast"),
    ({"fast": {"min": 0, "max": 10}}, "fast"),
    ({"fast": {"min": 1, "max": 100_000}}, "fast"),
    ({"fast": {"min": "-9e999999", "max": "9e999999", "step": "1e-999999"}}, "fast"),
    ({"fast": {"min": True, "max": 10}}, "fast"),
])
def test_a_bad_grid_names_its_field(spec, field):
    assert field_of(lambda: wf.expand_grid(SMA, spec)) == field


def test_a_range_outside_the_declared_bounds_says_which_bound():
    with pytest.raises(ValidationFailed) as raised:
        wf.expand_grid(SMA, {"fast": {"min": 1, "max": 5000}})
    assert "1000" in raised.value.message and len(raised.value.message) < 200


def test_too_many_values_for_one_parameter_is_refused():
    values = list(range(1, wf.MAX_VALUES_PER_PARAMETER + 2))
    assert field_of(lambda: wf.expand_grid(SMA, {"fast": values})) == "fast"
    assert wf.expand_grid(SMA, {"fast": values[:-1]})["fast"] == values[:-1]


def test_too_many_combinations_is_refused_naming_the_grid():
    spec = {"fast": {"min": 1, "max": 21}, "slow": {"min": 30, "max": 50}}  # 21 x 21 = 441
    assert 441 > wf.MAX_COMBINATIONS
    with pytest.raises(ValidationFailed) as raised:
        wf.expand_grid(SMA, spec)
    assert raised.value.field == "grid" and "441" in raised.value.message


def test_a_model_strategy_cannot_be_swept():
    assert field_of(lambda: wf.sweepable_strategy("ml_signal")) == "strategy"
    assert field_of(lambda: wf.sweepable_strategy("moonshot")) == "strategy"
    assert wf.sweepable_strategy("sma_cross") is SMA


@pytest.mark.parametrize(("raw", "expected"), [(None, 30), ("", 30), ("25", 25), (10, 10),
                                               (50.0, 50)])
def test_the_out_of_sample_share_is_a_bounded_whole_percent(raw, expected):
    assert wf.out_of_sample_pct(raw) == expected


@pytest.mark.parametrize("raw", [9, 51, "12.5", "abc", True, "nan", "inf", [30]])
def test_a_bad_out_of_sample_share_is_refused(raw):
    assert field_of(lambda: wf.out_of_sample_pct(raw)) == "out_of_sample_pct"


# --- The split and the run ----------------------------------------------------------------------

def test_the_split_keeps_the_last_share_out_of_sample():
    candles = random_walk_candles(1000)
    in_sample, out_of_sample = wf.split_candles(candles, 30)
    assert (len(in_sample), len(out_of_sample)) == (700, 300)
    assert in_sample.timestamp[-1] < out_of_sample.timestamp[0]
    assert out_of_sample.timestamp[-1] == candles.timestamp[-1]


def test_too_few_candles_to_split_is_refused():
    assert field_of(lambda: wf.split_candles(random_walk_candles(3), 30)) == "start_ms"


@pytest.fixture(scope="module")
def sweep():
    candles = random_walk_candles(3000, seed=7, volatility=0.004)
    config = BacktestConfig(strategy="sma_cross", preset="balanced")
    grid = wf.expand_grid(SMA, {"fast": [3, 5, 8, 30], "slow": [20, 40]})
    seen: list[float] = []
    result = wf.run_walk_forward(candles, config, grid, pct=25, progress=seen.append)
    return candles, config, result, seen


def test_rows_are_ranked_by_in_sample_return_best_first(sweep):
    _, _, result, _ = sweep
    returns = [row["in_sample"]["return_pct"] for row in result["rows"]]
    assert returns == sorted(returns, reverse=True)
    assert [row["rank"] for row in result["rows"]] == list(range(1, len(returns) + 1))
    assert result["rank_by"] == "return_pct" and result["parameters"] == ["fast", "slow"]


def test_refused_combinations_are_listed_not_run(sweep):
    _, _, result, _ = sweep
    assert len(result["rows"]) == 7
    assert result["invalid"] == [{"params": {"fast": 30, "slow": 20},
                                  "error": result["invalid"][0]["error"]}]
    assert "fast" in result["invalid"][0]["error"]


def test_progress_climbs_to_one_hundred(sweep):
    *_, seen = sweep
    assert seen == sorted(seen) and seen[-1] == 100.0 and len(seen) == 8


def test_the_split_is_described(sweep):
    candles, _, result, _ = sweep
    split = result["split"]
    assert split["out_of_sample_pct"] == 25
    assert (split["in_sample"]["candles"], split["out_of_sample"]["candles"]) == (2250, 750)
    assert split["in_sample"]["start_ms"] == int(candles.timestamp[0])
    assert split["out_of_sample"]["end_ms"] == int(candles.timestamp[-1])


def test_each_rows_figures_are_those_of_a_backtest_on_that_slice(sweep):
    candles, config, result, _ = sweep
    in_sample, out_of_sample = candles[:2250], candles[2250:]
    for row in result["rows"]:
        one = BacktestConfig(strategy="sma_cross", preset="balanced", params=row["params"],
                             lookahead_check=False)
        for part, piece in (("in_sample", in_sample), ("out_of_sample", out_of_sample)):
            metrics = run_backtest(piece, one)["metrics"]
            assert row[part] == {name: metrics[name] for name in wf.ROW_METRICS}, (row, part)


def test_the_figures_differ_between_the_parts(sweep):
    _, _, result, _ = sweep
    assert any(row["in_sample"] != row["out_of_sample"] for row in result["rows"])
    assert any(row["in_sample"]["trades"] > 0 for row in result["rows"])


# --- The heatmap ---------------------------------------------------------------------------------

def test_the_heatmap_puts_each_combination_in_its_cell(sweep):
    _, _, result, _ = sweep
    heatmap = wf.heatmap(result, x="fast", y="slow", part="out_of_sample")
    assert heatmap["x_values"] == [3, 5, 8, 30] and heatmap["y_values"] == [20, 40]
    by_params = {(row["params"]["fast"], row["params"]["slow"]): row for row in result["rows"]}
    for y_index, line in enumerate(heatmap["cells"]):
        for x_index, cell in enumerate(line):
            key = (heatmap["x_values"][x_index], heatmap["y_values"][y_index])
            if key == (30, 20):
                assert cell is None  # refused by the strategy: no figure
            else:
                assert cell["value"] == by_params[key]["out_of_sample"]["return_pct"]
                assert 0 <= cell["level"] <= wf.HEATMAP_LEVELS - 1


def test_the_heatmap_levels_span_worst_to_best(sweep):
    _, _, result, _ = sweep
    heatmap = wf.heatmap(result, x="slow", y="fast")
    values = [cell for line in heatmap["cells"] for cell in line if cell]
    worst = min(values, key=lambda cell: cell["value"])
    best = max(values, key=lambda cell: cell["value"])
    assert (worst["level"], best["level"]) == (0, wf.HEATMAP_LEVELS - 1)
    assert (heatmap["min"], heatmap["max"]) == (worst["value"], best["value"])


def test_a_heatmap_over_more_parameters_keeps_each_cells_best_row():
    candles = random_walk_candles(1200, seed=3, volatility=0.004)
    grid = wf.expand_grid(RSI, {"period": [7, 14], "oversold": [25, 30],
                                "overbought": [65, 75]})
    result = wf.run_walk_forward(candles, BacktestConfig(strategy="rsi_reversion"), grid,
                                 pct=30)
    heatmap = wf.heatmap(result, x="period", y="oversold")
    for y_index, y_value in enumerate(heatmap["y_values"]):
        for x_index, x_value in enumerate(heatmap["x_values"]):
            best = next(row for row in result["rows"]
                        if (row["params"]["period"], row["params"]["oversold"])
                        == (x_value, y_value))
            cell = heatmap["cells"][y_index][x_index]
            assert cell["rank"] == best["rank"]
            assert cell["value"] == best["in_sample"]["return_pct"]


def test_a_heatmap_needs_two_different_swept_parameters(sweep):
    _, _, result, _ = sweep
    assert field_of(lambda: wf.heatmap(result, x="fast", y="fast")) == "y"
    assert field_of(lambda: wf.heatmap(result, x="fast", y="period")) == "y"
    assert field_of(lambda: wf.heatmap(result, x="fast", y="slow", part="later")) == "part"
