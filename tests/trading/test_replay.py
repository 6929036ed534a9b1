"""ReplayExchange: market data from files, never a price from after its clock's "now"."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.core.candles import write_csv
from trading.exchanges.base import Exchange, InvalidOrder, OrderRequest, PermanentExchangeError
from trading.exchanges.replay import ReplayClock, ReplayExchange, replay_source_for
from trading.sampledata import generate, sample_path

START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z
MINUTE, HOUR = 60_000, 3_600_000
MINUTES = generate("BTC/USDT", "1m", 600, seed=3, start_ms=START_MS)
HOURS = generate("BTC/USDT", "1h", 30, seed=4, start_ms=START_MS)


def replay(start_index: int = 10, **sources) -> ReplayExchange:
    chosen = sources or {"minutes": MINUTES}
    mapping = {("BTC/USDT", "1m"): chosen["minutes"]}
    if "hours" in chosen:
        mapping[("BTC/USDT", "1h")] = chosen["hours"]
    return ReplayExchange(mapping, ReplayClock(start_index))


class FakeTime:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_implements_the_exchange_interface():
    assert isinstance(replay(), Exchange)


def test_it_shows_closed_candles_and_only_the_open_of_the_forming_one():
    exchange = replay(start_index=10)

    rows = exchange.fetch_ohlcv("BTC/USDT", "1m")

    assert exchange.now_ms() == START_MS + 10 * MINUTE
    assert rows[:-1] == MINUTES[:10].to_rows()
    forming_open = float(MINUTES.open[10])
    assert rows[-1] == [START_MS + 10 * MINUTE] + [forming_open] * 4 + [0.0]


def test_advance_reveals_exactly_one_more_candle():
    exchange = replay(start_index=10)

    exchange.clock.advance()
    rows = exchange.fetch_ohlcv("BTC/USDT", "1m")

    assert rows[-2] == MINUTES[10:11].to_rows()[0]
    assert rows[-1][0] == int(MINUTES.timestamp[11])


def test_limit_gives_the_most_recent_rows_and_since_the_rows_from_then():
    exchange = replay(start_index=100)

    recent = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    from_start = exchange.fetch_ohlcv("BTC/USDT", "1m", since_ms=START_MS + MINUTE, limit=2)

    assert [row[0] for row in recent] == [START_MS + m * MINUTE for m in (98, 99, 100)]
    assert from_start == MINUTES[1:3].to_rows()
    assert exchange.fetch_ohlcv("BTC/USDT", "1m", limit=0) == []


def test_the_ticker_is_the_price_at_now():
    exchange = replay(start_index=10)

    ticker = exchange.fetch_ticker("BTC/USDT")

    assert ticker.last == Decimal(str(MINUTES.open[10]))
    assert ticker.timestamp_ms == exchange.now_ms()


def test_a_coarser_timeframe_shows_its_forming_candle_as_open_only():
    exchange = replay(start_index=90, minutes=MINUTES, hours=HOURS)  # 01:30

    rows = exchange.fetch_ohlcv("BTC/USDT", "1h")

    assert rows[0] == HOURS[:1].to_rows()[0]  # 00:00-01:00 has closed
    assert rows[1] == [START_MS + HOUR] + [float(HOURS.open[1])] * 4 + [0.0]
    assert len(rows) == 2


def test_past_the_end_every_candle_is_closed_and_nothing_more_arrives():
    exchange = replay(start_index=len(MINUTES) + 5)

    rows = exchange.fetch_ohlcv("BTC/USDT", "1m")

    assert rows == MINUTES.to_rows()


def test_a_running_clock_moves_speed_times_faster_than_real_time():
    wall = FakeTime()
    clock = ReplayClock(start_index=5, speed=30, time_source=wall)
    exchange = ReplayExchange({("BTC/USDT", "1m"): MINUTES}, clock)

    wall.now += 4.0  # 4 s at 30x = 2 minutes of market time

    assert exchange.now_ms() == START_MS + 7 * MINUTE
    assert exchange.fetch_ohlcv("BTC/USDT", "1m")[-1][0] == START_MS + 7 * MINUTE


def test_the_clock_never_goes_back():
    with pytest.raises(ValueError):
        ReplayClock().advance(-1)


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 700), steps=st.lists(st.integers(0, 50), max_size=5),
       timeframe=st.sampled_from(["1m", "1h"]), limit=st.none() | st.integers(1, 400))
def test_it_never_shows_a_price_from_after_now(start, steps, timeframe, limit):
    exchange = replay(start_index=start, minutes=MINUTES, hours=HOURS)
    candles, period = (MINUTES, MINUTE) if timeframe == "1m" else (HOURS, HOUR)
    for step in steps:
        exchange.clock.advance(step)
        now = exchange.now_ms()
        rows = exchange.fetch_ohlcv("BTC/USDT", timeframe, limit=limit)
        for row in rows:
            index = (row[0] - START_MS) // period
            assert row[0] <= now
            if row[0] + period <= now:  # closed: exactly the file's candle
                assert row == candles[index:index + 1].to_rows()[0]
            else:  # forming: only what was known at its first instant
                assert row[1:] == [float(candles.open[index])] * 4 + [0.0]


def test_orders_are_refused_with_a_pointer_to_paper_mode():
    exchange = replay()
    order = OrderRequest("BTC/USDT", "buy", "market", Decimal("0.01"), None, "c-1")

    for call in (lambda: exchange.create_order(order), exchange.fetch_balance,
                 lambda: exchange.fetch_order("BTC/USDT", client_order_id="c-1"),
                 lambda: exchange.cancel_order("BTC/USDT", "1"),
                 lambda: exchange.fetch_open_orders("BTC/USDT"),
                 lambda: exchange.fetch_my_trades("BTC/USDT")):
        with pytest.raises(InvalidOrder, match="use paper mode"):
            call()


def test_an_unknown_market_is_a_permanent_error():
    with pytest.raises(PermanentExchangeError, match="ETH/USDT 1m"):
        replay().fetch_ohlcv("ETH/USDT", "1m")


def test_it_reads_candle_files_from_a_directory(tmp_path):
    write_csv(tmp_path / "BTC-USDT-1m.csv", MINUTES)
    write_csv(tmp_path / "ETH-USDT-1h.csv", HOURS)
    (tmp_path / "notes.csv").write_text("not candles")

    exchange = ReplayExchange.from_directory(tmp_path, ReplayClock(3))

    assert exchange.markets() == [("BTC/USDT", "1m"), ("ETH/USDT", "1h")]
    assert exchange.fetch_ohlcv("BTC/USDT", "1m")[:3] == MINUTES[:3].to_rows()


def test_the_demo_source_writes_sample_files_once_and_replays_them(tmp_path):
    exchange = replay_source_for(tmp_path, speed=None, start_index=200)
    written = sample_path(tmp_path, "BTC/USDT", "1m").stat().st_mtime_ns

    rows = exchange.fetch_ohlcv("ETH/USDT", "1m", limit=201)
    replay_source_for(tmp_path, speed=None)

    assert len(rows) == 201 and rows[-1][5] == 0.0  # 200 closed + the forming one
    assert sample_path(tmp_path, "BTC/USDT", "1m").stat().st_mtime_ns == written
