"""The Parquet candle store: round trips, merges, range reads over months, listing, errors."""
from __future__ import annotations

import numpy as np
import pytest

from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import COLUMNS, CandleFileError, Candles
from trading.core.history import (
    HistoryError,
    StoredMarket,
    history_markets,
    history_read,
    history_summary,
    history_write,
    market_dir,
)

JAN_30 = 1_706_572_800_000  # 2024-01-30T00:00Z
FEB_1 = 1_706_745_600_000
MAR_1 = 1_709_251_200_000
HOUR = 3_600_000


def hourly(count: int, *, start_ms: int = JAN_30, seed: int = 1) -> Candles:
    return random_walk_candles(count, seed=seed, start_ms=start_ms, timeframe_ms=HOUR)


def write(root, candles: Candles, symbol: str = "BTC/USDT", timeframe: str = "1h") -> int:
    return history_write(root, "binance", symbol, timeframe, candles)


def read(root, start_ms=None, end_ms=None, symbol: str = "BTC/USDT") -> Candles:
    return history_read(root, "binance", symbol, "1h", start_ms, end_ms)


def test_written_candles_read_back_exactly_one_file_per_month(tmp_path):
    candles = hourly(24 * 40)  # 2024-01-30 .. 2024-03-09

    assert write(tmp_path, candles) == len(candles)

    assert read(tmp_path).to_rows() == candles.to_rows()
    assert sorted(p.name for p in (tmp_path / "binance" / "BTC-USDT" / "1h").glob("*.parquet")) \
        == ["2024-01.parquet", "2024-02.parquet", "2024-03.parquet"]


def test_overlapping_writes_merge_unique_and_ascending_the_later_write_wins(tmp_path):
    first, second = hourly(100), hourly(100, start_ms=JAN_30 + 50 * HOUR, seed=2)

    write(tmp_path, first)
    added = write(tmp_path, second)

    stored = read(tmp_path)
    assert added == 50
    assert list(stored.timestamp) == [JAN_30 + i * HOUR for i in range(150)]
    assert stored[:50].to_rows() == first[:50].to_rows()
    assert stored[50:].to_rows() == second.to_rows()


def test_unsorted_input_with_repeats_is_stored_sorted_keeping_the_last_given(tmp_path):
    candles = hourly(6)
    shuffled = candles[::-1]
    repeat = Candles(*(np.append(getattr(shuffled, n), getattr(candles, n)[2]) for n in COLUMNS))
    repeat.close[-1] = repeat.high[-1]  # the repeated candle differs, and stays valid

    write(tmp_path, repeat)

    stored = read(tmp_path)
    assert list(stored.timestamp) == list(candles.timestamp)
    assert stored.close[2] == repeat.high[-1]


def test_a_range_read_spans_months_and_the_end_is_exclusive(tmp_path):
    write(tmp_path, hourly(24 * 40))

    part = read(tmp_path, FEB_1 - 2 * HOUR, MAR_1 + 3 * HOUR)

    assert part.timestamp[0] == FEB_1 - 2 * HOUR
    assert part.timestamp[-1] == MAR_1 + 2 * HOUR
    assert len(part) == 29 * 24 + 5
    assert len(read(tmp_path, start_ms=MAR_1)) == len(read(tmp_path)) - (2 + 29) * 24


def test_a_range_read_opens_only_the_months_it_needs(tmp_path):
    write(tmp_path, hourly(24 * 40))
    (market_dir(tmp_path, "binance", "BTC/USDT", "1h") / "2024-01.parquet").write_bytes(b"x")

    assert len(read(tmp_path, FEB_1, MAR_1)) == 29 * 24


def test_an_empty_range_is_a_clear_error_naming_what_is_stored(tmp_path):
    write(tmp_path, hourly(48))

    with pytest.raises(HistoryError) as caught:
        read(tmp_path, MAR_1, MAR_1 + HOUR)

    assert str(caught.value) == ("binance BTC/USDT 1h: no candles stored from 2024-03-01T00:00Z "
                                 "to 2024-03-01T01:00Z; stored: 2024-01-30T00:00Z to "
                                 "2024-01-31T23:00Z.")
    assert isinstance(caught.value, CandleFileError)


def test_an_unknown_market_and_a_backwards_range_are_errors(tmp_path):
    with pytest.raises(HistoryError, match="nothing stored"):
        read(tmp_path)
    write(tmp_path, hourly(3))
    with pytest.raises(HistoryError, match="start .* must be before the end"):
        read(tmp_path, FEB_1, JAN_30)


def test_a_corrupt_file_is_an_error_naming_it(tmp_path):
    write(tmp_path, hourly(3))
    path = market_dir(tmp_path, "binance", "BTC/USDT", "1h") / "2024-01.parquet"
    path.write_bytes(path.read_bytes()[:-40])

    with pytest.raises(HistoryError, match=f"{path}: not a readable Parquet candle file"):
        read(tmp_path)


def test_a_month_file_holding_another_month_is_refused(tmp_path):
    write(tmp_path, hourly(3))
    directory = market_dir(tmp_path, "binance", "BTC/USDT", "1h")
    (directory / "2024-01.parquet").rename(directory / "2024-05.parquet")

    with pytest.raises(HistoryError, match="must increase and fall inside 2024-05"):
        read(tmp_path)


def test_bad_prices_are_refused_before_anything_is_written(tmp_path):
    candles = hourly(30)
    candles.low[20] = candles.high[20] * 2

    with pytest.raises(HistoryError, match="2024-01-30T20:00Z"):
        write(tmp_path, candles)

    assert history_markets(tmp_path) == []


@pytest.mark.parametrize(("exchange", "symbol", "timeframe"), [
    ("../x", "BTC/USDT", "1h"), ("binance", "BTC/../USDT", "1h"), ("binance", "BTCUSDT", "1h"),
    ("binance", "BTC/USDT", "7m")])
def test_names_that_are_not_a_market_are_refused(tmp_path, exchange, symbol, timeframe):
    with pytest.raises(HistoryError):
        history_write(tmp_path, exchange, symbol, timeframe, hourly(3))


def test_the_listing_names_each_market_with_its_span_and_count(tmp_path):
    write(tmp_path, hourly(24 * 40))
    write(tmp_path, hourly(5, start_ms=MAR_1), symbol="ETH/USDT")
    write(tmp_path, hourly(7, start_ms=MAR_1), symbol="ETH/USDT", timeframe="1m")
    (tmp_path / "binance" / "BTC-USDT" / "1h" / "notes.txt").write_text("not a month")

    assert history_markets(tmp_path) == [
        StoredMarket("binance", "BTC/USDT", "1h", JAN_30, JAN_30 + (24 * 40 - 1) * HOUR,
                     24 * 40, 3),
        StoredMarket("binance", "ETH/USDT", "1h", MAR_1, MAR_1 + 4 * HOUR, 5, 1),
        StoredMarket("binance", "ETH/USDT", "1m", MAR_1, MAR_1 + 6 * HOUR, 7, 1),
    ]


def test_a_write_leaves_no_temporary_files(tmp_path):
    write(tmp_path, hourly(24 * 40))
    write(tmp_path, hourly(24 * 40, seed=3))

    names = {p.name for p in market_dir(tmp_path, "binance", "BTC/USDT", "1h").iterdir()}
    assert names == {".lock", "2024-01.parquet", "2024-02.parquet", "2024-03.parquet"}


def test_the_summary_of_one_market_reads_only_its_footers(tmp_path):
    assert history_summary(tmp_path, "binance", "BTC/USDT", "1h") is None
    write(tmp_path, hourly(30))

    assert history_summary(tmp_path, "binance", "BTC/USDT", "1h") == StoredMarket(
        "binance", "BTC/USDT", "1h", JAN_30, JAN_30 + 29 * HOUR, 30, 1)
