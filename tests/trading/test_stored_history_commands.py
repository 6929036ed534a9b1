"""The stored-history commands: download_ohlcv and import_candles fill the store, backtest
--stored reads it (a range of it with --start/--end)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import write_csv
from trading.core.history import history_markets, history_read, history_write
from trading.sampledata import generate

pytest_plugins = ["tests.fakes.binance"]

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z
FEB_1 = 1_706_745_600_000
MINUTE, HOUR = 60_000, 3_600_000


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_download_also_writes_the_candles_into_the_store(fake_binance, tmp_path, history_dir):
    candles = generate("BTC/USDT", "1h", 1200, seed=8, start_ms=START_MS)
    fake_binance.set_klines("BTC/USDT", "1h", candles.to_rows())

    output = run("download_ohlcv", "--exchange", "binance", "--symbol", "BTC/USDT",
                 "--timeframe", "1h", "--api-url", fake_binance.url, "--since", "2024-01-01",
                 "--until", str(START_MS + 1200 * HOUR), "--out", str(tmp_path / "btc.csv"))

    assert history_read(history_dir, "binance", "BTC/USDT", "1h").to_rows() == candles.to_rows()
    assert f"stored in {history_dir}" in output


def test_import_candles_ingests_a_csv_and_a_second_import_merges(tmp_path, history_dir):
    candles = random_walk_candles(3000, seed=4, start_ms=FEB_1 - 1000 * MINUTE)
    write_csv(tmp_path / "a.csv", candles[:2000])
    write_csv(tmp_path / "b.csv", candles[1500:])
    flags = ("--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1m")

    run("import_candles", str(tmp_path / "a.csv"), *flags)
    output = run("import_candles", str(tmp_path / "b.csv"), *flags)

    assert history_read(history_dir, "binance", "BTC/USDT", "1m").to_rows() == candles.to_rows()
    assert [(m.count, m.months) for m in history_markets(history_dir)] == [(3000, 2)]
    assert output.startswith("Imported 1500 candles (1000 new)")


def test_import_candles_refuses_a_bad_file_naming_the_row(tmp_path, history_dir):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1,1,2,0.5,1.5,10\n2,1,2,0.5,x,1\n")

    with pytest.raises(CommandError, match="row 3") as caught:
        run("import_candles", str(path), "--exchange", "binance", "--symbol", "BTC/USDT",
            "--timeframe", "1m")

    assert caught.value.returncode == 2
    assert history_markets(history_dir) == []


def test_import_candles_refuses_a_name_that_is_not_a_market(tmp_path):
    write_csv(tmp_path / "a.csv", random_walk_candles(10, seed=1))

    with pytest.raises(CommandError, match="not a market symbol"):
        run("import_candles", str(tmp_path / "a.csv"), "--exchange", "binance",
            "--symbol", "BTCUSDT", "--timeframe", "1m")


@pytest.fixture
def stored(history_dir):
    candles = random_walk_candles(3000, seed=12, start_ms=FEB_1 - 1000 * MINUTE,
                                  volatility=0.005)
    history_write(history_dir, "binance", "BTC/USDT", "1m", candles)
    return candles


def backtest(*args: str) -> dict:
    return json.loads(run("backtest", "--strategy", "sma_cross", "--json", *args))


def test_backtest_over_stored_candles_matches_the_same_candles_from_a_csv(stored, tmp_path):
    write_csv(tmp_path / "same.csv", stored)

    from_store = backtest("--stored", "binance:BTC/USDT:1m")
    from_csv = backtest("--data", str(tmp_path / "same.csv"))

    assert from_store["period"]["candles"] == 3000
    assert from_store["metrics"] == from_csv["metrics"]


def test_backtest_start_and_end_pick_a_range_end_exclusive(stored):
    report = backtest("--stored", "binance:BTC/USDT:1m", "--start", "2024-02-01",
                      "--end", "2024-02-01T10:00")

    assert report["period"]["candles"] == 600
    assert report["period"]["start"] == "2024-02-01T00:00:00Z"


@pytest.mark.parametrize(("args", "words"), [
    (("--stored", "binance:BTC/USDT"), "EXCHANGE:SYMBOL:TIMEFRAME"),
    (("--stored", "binance:BTC/USDT:1m", "--start", "2025-01-01"), "no candles stored from"),
    (("--stored", "kraken:BTC/USDT:1m"), "nothing stored"),
    (("--stored", "binance:BTC/USDT:1m", "--start", "soon"), "neither"),
    (("--data", "x.csv", "--start", "2024-02-01"), "--start and --end need --stored"),
])
def test_bad_stored_selections_are_usage_errors(stored, args, words):
    with pytest.raises(CommandError) as caught:
        backtest(*args)

    assert caught.value.returncode == 2
    assert words in str(caught.value)


def test_data_and_stored_cannot_both_be_given(stored, tmp_path):
    with pytest.raises(CommandError, match="not allowed with"):
        backtest("--data", "x.csv", "--stored", "binance:BTC/USDT:1m")


def test_the_process_reads_the_store_the_setting_names(stored, history_dir):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aitrader.settings.test",
           "AITRADER_HISTORY_DIR": str(history_dir)}
    finished = subprocess.run(
        [sys.executable, "manage.py", "backtest", "--strategy", "sma_cross", "--json",
         "--stored", "binance:BTC/USDT:1m", "--end", "2024-02-01"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["period"]["candles"] == 1000
