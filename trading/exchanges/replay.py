"""Market data replayed from candle files, as if it were arriving live (offline demo, tests).

A `ReplayClock` says how far the replay has got. `ReplayExchange` turns that into a moment
in market time and shows only what a live exchange would have shown at that moment: every
candle that has closed, plus the candle still forming, of which only its open is known (so a
strategy can never see a future price). The clock either runs by itself (`speed` times faster
than real time, the live demo) or moves only when told (`advance()`, tests and
`seed_demo --ticks`). Orders are refused: paper trading on replayed prices is the paper
exchange's job.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np

from trading.core.candles import Candles, load_csv
from trading.core.resample import derivable_timeframes, resample, resample_source
from trading.core.timeframes import SUPPORTED, timeframe_ms
from trading.exchanges.base import (
    Balance,
    InvalidOrder,
    OrderRequest,
    OrderState,
    PermanentExchangeError,
    Ticker,
    TradeFill,
)
from trading.exchanges.limits import MarketRules
from trading.sampledata import ensure_sample_files

ORDERS_REFUSED = "replay exchange serves market data only; use paper mode"
# Candles that have already closed when a demo replay starts, so indicators are warm at once.
WARM_UP_CANDLES = 500
_FILE_NAME = re.compile(r"^(?P<base>[A-Z0-9]+)-(?P<quote>[A-Z0-9]+)-(?P<timeframe>\d+[mhdw])$")


class ReplayClock:
    """How far the replay has got, as market time elapsed since the replay's first candle.

    `start_index` candles (of the exchange's finest timeframe) have already passed when the
    clock starts: room for indicators to warm up. `advance()` moves on by whole candles.
    With `speed` the clock also runs by itself, `speed` market milliseconds per wall-clock
    millisecond of `time_source` (30: a 1m candle every 2 s); without it only `advance()`
    moves it. Safe to share between threads.
    """

    def __init__(self, start_index: int = 0, speed: float | None = None, *,
                 time_source: Callable[[], float] = time.monotonic) -> None:
        if start_index < 0:
            raise ValueError("start_index must be >= 0")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for a clock moved by advance())")
        self._lock = threading.Lock()
        self._steps = start_index
        self._speed = speed
        self._time_source = time_source
        self._started = time_source()

    def advance(self, steps: int = 1) -> None:
        """Move "now" forward by `steps` candles."""
        if steps < 0:
            raise ValueError("a replay never goes back in time")
        with self._lock:
            self._steps += steps

    def elapsed_ms(self, step_ms: int) -> int:
        """Market time since the replay's origin, for candles of `step_ms`."""
        with self._lock:
            steps = self._steps
        running = 0 if self._speed is None else (self._time_source() - self._started) * 1000
        return steps * step_ms + int(running * (self._speed or 0))


class ReplayExchange:
    """`fetch_ohlcv` / `fetch_ticker` from candle files, as of the clock's "now".

    `sources` maps (symbol, timeframe) to a CSV path or to `Candles`. The replay's origin is
    the earliest candle of the finest timeframe, and a clock step is one candle of that
    timeframe. Past the end of the data every candle is closed and nothing new arrives.
    """

    # Sample candles, not a market: live accounts refuse to trade on them (see
    # trading.services.guards.require_real_market_data).
    replays_samples = True

    def __init__(self, sources: Mapping[tuple[str, str], str | Path | Candles],
                 clock: ReplayClock | None = None, *, exchange_id: str = "replay") -> None:
        if not sources:
            raise ValueError("a replay needs at least one candle source")
        self.exchange_id = exchange_id
        self.clock = clock or ReplayClock()
        self._sources = dict(sources)
        self._loaded: dict[tuple[str, str], Candles] = {}
        self._load_lock = threading.Lock()
        self._step_ms = min(timeframe_ms(timeframe) for _, timeframe in self._sources)
        self._origin_ms = min(self._first_timestamp(key) for key in self._sources
                              if timeframe_ms(key[1]) == self._step_ms)

    @classmethod
    def from_directory(cls, directory: str | Path, clock: ReplayClock | None = None,
                       **kwargs) -> ReplayExchange:
        """Every `BASE-QUOTE-TIMEFRAME.csv` in `directory` (e.g. BTC-USDT-1m.csv)."""
        sources = {}
        for path in sorted(Path(directory).glob("*.csv")):
            match = _FILE_NAME.match(path.stem)
            if match and match["timeframe"] in SUPPORTED:
                symbol = f"{match['base']}/{match['quote']}"
                sources[(symbol, match["timeframe"])] = path
        if not sources:
            raise PermanentExchangeError(f"no candle files like BTC-USDT-1m.csv in {directory}")
        return cls(sources, clock, **kwargs)

    # -- time --

    def now_ms(self) -> int:
        """Market time of the replay (epoch ms)."""
        return self._origin_ms + self.clock.elapsed_ms(self._step_ms)

    # -- market data --

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                    limit: int | None = None) -> list[list]:
        """Closed candles up to "now" plus the forming one (open only), like an exchange:
        from `since_ms` on when given, else the most recent `limit`."""
        return _visible_rows(self._candles(symbol, timeframe), timeframe_ms(timeframe),
                             self.now_ms(), since_ms, limit)

    def fetch_ticker(self, symbol: str) -> Ticker:
        """The price at "now": the open of the forming candle (or the last close)."""
        timeframe = self._finest_timeframe(symbol)
        rows = self.fetch_ohlcv(symbol, timeframe, limit=1)
        if not rows:
            raise PermanentExchangeError(f"replay of {symbol} has not started yet at this time")
        last = Decimal(str(rows[-1][4]))
        return Ticker(symbol=symbol, last=last, bid=None, ask=None, timestamp_ms=self.now_ms())

    # -- orders are not ours --

    def create_order(self, request: OrderRequest) -> OrderState:
        """Refused: use the paper exchange for simulated trading."""
        raise InvalidOrder(ORDERS_REFUSED)

    def fetch_order(self, symbol: str, *, exchange_order_id: str | None = None,
                    client_order_id: str | None = None) -> OrderState:
        """Refused: use the paper exchange for simulated trading."""
        raise InvalidOrder(ORDERS_REFUSED)

    def cancel_order(self, symbol: str, exchange_order_id: str) -> OrderState:
        """Refused: use the paper exchange for simulated trading."""
        raise InvalidOrder(ORDERS_REFUSED)

    def fetch_balance(self) -> dict[str, Balance]:
        """Refused: use the paper exchange for simulated trading."""
        raise InvalidOrder(ORDERS_REFUSED)

    def fetch_open_orders(self, symbol: str) -> list[OrderState]:
        """Refused: use the paper exchange for simulated trading."""
        raise InvalidOrder(ORDERS_REFUSED)

    def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[TradeFill]:
        """Refused: use the paper exchange for simulated trading."""
        raise InvalidOrder(ORDERS_REFUSED)

    def fetch_order_trades(self, symbol: str, state: OrderState) -> list[TradeFill]:
        """Refused: use the paper exchange for simulated trading."""
        raise InvalidOrder(ORDERS_REFUSED)

    def amount_step(self, symbol: str) -> Decimal:
        """Refused: a replay is market data only."""
        raise InvalidOrder(ORDERS_REFUSED)

    def market_rules(self, symbol: str) -> MarketRules:
        """Refused: a replay is market data only."""
        raise InvalidOrder(ORDERS_REFUSED)

    def close(self) -> None:
        """Nothing to release."""

    # -- helpers --

    def markets(self) -> list[tuple[str, str]]:
        """The (symbol, timeframe) pairs this replay has files for."""
        return sorted(self._sources)

    def catalogue(self) -> dict[str, tuple[str, ...]]:
        """Each symbol with every timeframe it serves: its files' and those resampled from
        them (5m, 15m, 4h, 1d from 1m, ...), shortest first."""
        return {symbol: tuple(sorted(derivable_timeframes(self._native(symbol)),
                                     key=timeframe_ms))
                for symbol in sorted({symbol for symbol, _ in self._sources})}

    def _native(self, symbol: str) -> list[str]:
        return [timeframe for sym, timeframe in self._sources if sym == symbol]

    def _candles(self, symbol: str, timeframe: str) -> Candles:
        key = (symbol, timeframe)
        source_timeframe = resample_source(self._native(symbol), timeframe)
        if source_timeframe is None:
            raise PermanentExchangeError(f"no replay data for {symbol} {timeframe}")
        with self._load_lock:
            if key not in self._loaded:
                self._loaded[key] = self._load(symbol, source_timeframe, timeframe)
            return self._loaded[key]

    def _load(self, symbol: str, source_timeframe: str, timeframe: str) -> Candles:
        """A file's candles, merged into `timeframe` when the file is finer (caller locks)."""
        source_key = (symbol, source_timeframe)
        if source_key not in self._loaded:
            source = self._sources[source_key]
            self._loaded[source_key] = (source if isinstance(source, Candles)
                                        else load_csv(source))
        return resample(self._loaded[source_key], source_timeframe, timeframe)

    def _first_timestamp(self, key: tuple[str, str]) -> int:
        return int(self._candles(*key).timestamp[0])

    def _finest_timeframe(self, symbol: str) -> str:
        timeframes = self._native(symbol)
        if not timeframes:
            raise PermanentExchangeError(f"no replay data for {symbol}")
        return min(timeframes, key=timeframe_ms)


def _visible_rows(candles: Candles, period_ms: int, now_ms: int, since_ms: int | None,
                  limit: int | None) -> list[list]:
    """Rows an exchange would return at `now_ms`; only the needed rows are converted."""
    if limit is not None and limit <= 0:
        return []
    started = int(np.searchsorted(candles.timestamp, now_ms, side="right"))
    closed = int(np.searchsorted(candles.timestamp, now_ms - period_ms, side="right"))
    first = 0 if since_ms is None else int(np.searchsorted(candles.timestamp, since_ms))
    end = started
    if limit is not None:
        if since_ms is None:
            first = max(first, end - limit)
        else:
            end = min(end, first + limit)
    rows = candles[first:end].to_rows() if end > first else []
    if rows and end > closed:
        rows[-1] = _forming(candles, end - 1)
    return rows


def _forming(candles: Candles, index: int) -> list:
    """The candle that has begun but not closed: at its first instant only the open exists."""
    open_ = float(candles.open[index])
    return [int(candles.timestamp[index]), open_, open_, open_, open_, 0.0]


def replay_source_for(directory: str | Path, *, speed: float | None,
                      start_index: int = WARM_UP_CANDLES) -> ReplayExchange:
    """The demo's market data: sample files under `directory`/replay (written on first use,
    next to any files downloaded there), replayed `speed` times faster than real time."""
    ensure_sample_files(directory)
    return ReplayExchange.from_directory(Path(directory) / "replay",
                                         ReplayClock(start_index, speed))
