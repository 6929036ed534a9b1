"""Backtests a trader steers: which data set (sample, stored history, the tenant's uploads),
which range of it, and the settings; the run records what it used."""
from __future__ import annotations

import pytest

from aitrader.errors import ValidationFailed
from tests.base import owner_actor
from trading.core import history
from trading.core.backtest.config import BACKTEST_LIMITS, STAKE, BacktestConfig
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import write_csv
from trading.core.history import history_write, market_dir
from trading.core.money import CAPITAL, FEE_RATE, SLIPPAGE
from trading.models import BacktestRun
from trading.services.backtests import backtest_run_create, stored_candles
from trading.services.candle_history import candle_history_import, history_root

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00Z
FEB_1 = 1_706_745_600_000
MAR_1 = 1_709_251_200_000
HOUR = 3_600_000
SMA = {"fast": 5, "slow": 20}


@pytest.fixture(autouse=True)
def tenant_history(settings, tmp_path):
    settings.AITRADER_TENANT_HISTORY_DIR = str(tmp_path / "tenant-history")
    return tmp_path / "tenant-history"


def hourly(count: int, *, start_ms: int = JAN_1, seed: int = 1):
    return random_walk_candles(count, seed=seed, start_ms=start_ms, timeframe_ms=HOUR)


@pytest.fixture
def backtest(world, django_capture_on_commit_callbacks):
    """Queue a backtest of tenant A (or another) and let its task run when it commits."""
    def create(*, tenant=None, symbol="SOL/USDT", timeframe="1h", **config) -> BacktestRun:
        tenant = tenant or world.tenant_a
        with django_capture_on_commit_callbacks(execute=True):
            run = backtest_run_create(tenant=tenant, actor=owner_actor(tenant),
                                      strategy="sma_cross", symbol=symbol, timeframe=timeframe,
                                      parameters=SMA, config=config)
        return BacktestRun.objects.for_tenant(tenant).get(pk=run.pk)
    return create


def test_a_market_with_stored_history_is_backtested_on_it_and_the_run_says_so(
        backtest, history_dir):
    candles = hourly(24 * 50)
    history_write(history_dir, "binance", "SOL/USDT", "1h", candles)

    run = backtest()

    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.config["data"] == "stored"
    data = run.report["config"]["data"]
    assert data == {"set": "stored", "exchange": "binance", "symbol": "SOL/USDT",
                    "timeframe": "1h", "start_ms": JAN_1, "end_ms": JAN_1 + (24 * 50 - 1) * HOUR,
                    "candles": 24 * 50}
    assert run.report["period"]["candles"] == 24 * 50


def test_without_stored_history_the_sample_is_used_and_recorded(backtest):
    run = backtest(symbol="BTC/USDT")

    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.config["data"] == "sample"
    assert run.report["config"]["data"]["set"] == "sample"


def test_the_sample_can_be_chosen_over_stored_history(backtest, history_dir):
    history_write(history_dir, "binance", "BTC/USDT", "1h", hourly(100))

    run = backtest(symbol="BTC/USDT", data="sample")

    assert run.report["config"]["data"]["set"] == "sample"
    assert run.report["period"]["candles"] > 100


def test_a_range_reads_only_the_months_it_touches(backtest, history_dir, monkeypatch):
    history_write(history_dir, "binance", "SOL/USDT", "1h", hourly(24 * 70))  # Jan..Mar 10
    opened = []
    read_file = history._read_file
    monkeypatch.setattr(history, "_read_file", lambda path: opened.append(path.name)
                        or read_file(path))

    run = backtest(start_ms=JAN_1 + 24 * HOUR, end_ms=FEB_1 + 24 * HOUR, data="stored")

    assert run.status == BacktestRun.Status.DONE, run.error
    assert sorted(set(opened)) == ["2024-01.parquet", "2024-02.parquet"]  # never March
    assert run.report["period"]["candles"] == 31 * 24 + 1  # the end is included
    assert run.report["config"]["data"]["start_ms"] == JAN_1 + 24 * HOUR
    assert run.report["config"]["data"]["end_ms"] == FEB_1 + 24 * HOUR


def test_an_empty_range_names_the_market_and_what_is_stored(backtest, history_dir):
    history_write(history_dir, "binance", "SOL/USDT", "1h", hourly(24 * 10))

    with pytest.raises(ValidationFailed) as refused:
        backtest(start_ms=MAR_1, end_ms=MAR_1 + 24 * HOUR)

    assert refused.value.field == "start_ms"
    assert refused.value.message == (
        "No stored candles for SOL/USDT 1h between 2024-03-01 00:00 and 2024-03-02 00:00 "
        "(UTC); stored: 2024-01-01 00:00 to 2024-01-10 23:00.")
    assert not BacktestRun.objects.exists()


def test_a_start_after_the_end_is_refused(backtest, history_dir):
    history_write(history_dir, "binance", "SOL/USDT", "1h", hourly(100))

    with pytest.raises(ValidationFailed) as refused:
        backtest(start_ms=JAN_1 + 50 * HOUR, end_ms=JAN_1 + 10 * HOUR)

    assert refused.value.field == "end_ms"
    assert "on or after the start" in refused.value.message


def test_unreadable_stored_history_is_a_clear_refusal_not_a_crash(backtest, history_dir):
    history_write(history_dir, "binance", "SOL/USDT", "1h", hourly(100))
    month = market_dir(history_dir, "binance", "SOL/USDT", "1h") / "2024-01.parquet"
    month.write_bytes(b"not parquet")

    with pytest.raises(ValidationFailed) as refused:
        backtest()

    assert refused.value.field == "data"
    assert "cannot be read" in refused.value.message
    assert str(history_dir) not in refused.value.message


def test_choosing_stored_history_a_market_does_not_have_is_refused(backtest):
    with pytest.raises(ValidationFailed) as refused:
        backtest(symbol="BTC/USDT", data="stored")

    assert refused.value.field == "data"
    assert "No stored history for BTC/USDT 1h" in refused.value.message


@pytest.mark.parametrize(("config", "field"), [
    ({"data": "elsewhere"}, "data"),
    ({"exchange": "../etc"}, "exchange"),
    ({"stake": 1.5}, "stake"),
    ({"stake": 0}, "stake"),
    ({"fee": 0.5}, "fee"),
    ({"slippage": -0.01}, "slippage"),
    ({"start_ms": "yesterday"}, "start_ms"),
])
def test_bad_settings_are_refused_naming_the_field(backtest, config, field):
    with pytest.raises(ValidationFailed) as refused:
        backtest(symbol="BTC/USDT", **config)

    assert refused.value.field == field
    assert not BacktestRun.objects.exists()


def test_the_bounds_are_one_set_shared_with_the_money_limits():
    assert BACKTEST_LIMITS == {"cash": CAPITAL, "fee": FEE_RATE, "slippage": SLIPPAGE,
                               "stake": STAKE}
    with pytest.raises(ValidationFailed):
        BacktestConfig(strategy="sma_cross", stake=float(STAKE.maximum) * 2).resolve()
    assert BacktestConfig(strategy="sma_cross", stake=float(STAKE.minimum)).resolve() \
        .risk.stake_fraction == float(STAKE.minimum)


def test_an_uploaded_history_belongs_to_its_tenant(world, backtest, tmp_path):
    write_csv(tmp_path / "sol.csv", hourly(300))
    candle_history_import(root=history_root(world.tenant_a.pk), exchange="binance",
                          symbol="SOL/USDT", timeframe="1h", path=tmp_path / "sol.csv")

    mine = backtest(data="upload")
    assert mine.status == BacktestRun.Status.DONE, mine.error
    assert mine.report["config"]["data"]["set"] == "upload"
    with pytest.raises(ValidationFailed) as refused:
        backtest(tenant=world.tenant_b, data="upload")
    assert "No uploaded history for SOL/USDT 1h" in refused.value.message
    with pytest.raises(ValidationFailed):  # and it is not shared history either
        backtest(tenant=world.tenant_b, data="stored")


def test_the_import_service_merges_and_counts(tmp_path, history_dir):
    candles = hourly(500)
    write_csv(tmp_path / "a.csv", candles[:300])
    write_csv(tmp_path / "b.csv", candles[200:])
    market = {"root": history_dir, "exchange": "binance", "symbol": "SOL/USDT",
              "timeframe": "1h"}

    candle_history_import(**market, path=tmp_path / "a.csv")
    outcome = candle_history_import(**market, path=tmp_path / "b.csv")

    assert (outcome.candles, outcome.added, outcome.held.count) == (300, 200, 500)
    assert stored_candles(symbol="SOL/USDT", timeframe="1h", data="stored").to_rows() \
        == candles.to_rows()
