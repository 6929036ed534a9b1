"""Live exchanges through ccxt's asyncio client, behind the synchronous `Exchange` interface.

The engine calls exchanges from Celery worker threads, so `LiveExchange` is synchronous. Under
it, one long-lived event loop per process runs in a background thread: every ccxt client is
driven there (`asyncio.run_coroutine_threadsafe`), so each keeps its aiohttp session and its
rate limiter across calls instead of reconnecting per call. Markets are loaded once per
exchange per process and shared by every client of that exchange.

Orders are checked against the market's precision and limits before anything is sent, and
`create_order` is never retried: a lost answer surfaces as `TemporaryExchangeError`, and the
caller finds the order by its client id. ccxt's errors become the ones in `base`, with
messages that carry neither credentials nor signed query strings.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import hashlib
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS

from trading.core.timeframes import SUPPORTED, timeframe_ms
from trading.exchanges.base import (
    LEDGER_AMOUNT_STEP,
    ORDER_TYPES,
    PRICED_TYPES,
    AccountPermissions,
    AuthenticationError,
    Balance,
    DuplicateClientOrderId,
    Exchange,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderRequest,
    OrderState,
    PermanentExchangeError,
    RateLimited,
    TemporaryExchangeError,
    Ticker,
    TradeFill,
)
from trading.exchanges.limits import MarketRules, remember_market_rules

logger = logging.getLogger(__name__)

T = TypeVar("T")
Client = Any  # a ccxt.async_support exchange instance

DEFAULT_TIMEOUT_MS = 10_000
MY_TRADES_PAGE = 500
MY_TRADES_MAX_PAGES = 20

# ccxt logs every request at DEBUG with its headers, API key included: keep that out of logs
# even when the project logs at DEBUG.
logging.getLogger("ccxt").setLevel(max(logging.INFO, logging.getLogger("ccxt").level))

# This product trades spot. Without these, binance also loads futures markets, margin pairs
# and a signed currency list on every market load: more requests that may fail on their own.
_EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False, "fetchCurrencies": False},
}
# The request parameter each exchange reads our client order id from, when placing and when
# looking an order up; ccxt's unified "clientOrderId" covers the others.
_CLIENT_ID_PARAM = {"binance": "newClientOrderId"}
_CLIENT_ID_LOOKUP_PARAM = {"binance": "origClientOrderId"}
# Client order ids each exchange accepts; a longer or odd id would be refused after sending.
_CLIENT_ID_FORMATS = {"binance": re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")}
_STATUSES = {"open": "open", "closed": "closed", "canceled": "canceled",
             "rejected": "rejected", "expired": "expired"}
_URL_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")


# --- The process's event loop --------------------------------------------------------------


class _LoopThread:
    """One asyncio loop in a daemon thread per process, recreated in a forked child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self.market_locks: dict[str, asyncio.Lock] = {}

    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, started on first use (and again after a fork)."""
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._start()
            return self._loop

    def _start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="exchange-event-loop")
        self._thread.start()
        self._pid = os.getpid()
        # Locks bind to the loop that first waits on them; a new loop needs new locks.
        self.market_locks = {}

    def owns_loop_of(self, client: Client) -> bool:
        """True when `client` runs on this process's current loop (not a forked parent's)."""
        return self._loop is not None and self._pid == os.getpid() and \
            client.asyncio_loop is self._loop

    def run(self, make_coroutine: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Run a coroutine on the loop and wait for it from this (non-loop) thread."""
        loop = self.loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError("LiveExchange is synchronous; do not call it from its own loop.")
        future = asyncio.run_coroutine_threadsafe(make_coroutine(), loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TemporaryExchangeError(
                f"exchange call gave no answer within {timeout_s:.0f} s") from None


_LOOP = _LoopThread()
# Clients with a session to close at exit (ccxt warns about unclosed ones otherwise).
_open_clients: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_clients() -> None:
    """Close this process's remaining ccxt sessions, together, when the process ends."""
    clients = [client for client in list(_open_clients) if client.session is not None]
    if not clients or not _LOOP.owns_loop_of(clients[0]):
        return

    async def close_all() -> None:
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)

    try:
        _LOOP.run(close_all, timeout_s=5)
    except Exception:  # best effort while the interpreter shuts down
        logger.debug("could not close exchange sessions at exit", exc_info=True)


# Clients that loaded markets, by cache key; later clients share their markets (no request).
_MARKET_SOURCES: dict[str, Client] = {}


def forget_markets(exchange_id: str | None = None) -> None:
    """Drop cached markets (all, or one exchange's) so the next client loads them again."""
    for key in list(_MARKET_SOURCES):
        if exchange_id is None or key.split("@", 1)[0] == exchange_id:
            _MARKET_SOURCES.pop(key, None)


# --- The adapter ---------------------------------------------------------------------------


class LiveExchange:
    """A real exchange account (or public market data when no key is given) through ccxt.

    `markets` (ccxt market structures) skips market loading; `urls_api` points the client at
    another host (a stand-in in tests): a base URL whose scheme and host replace those of every
    API URL of the exchange, or a ccxt `urls['api']` value used as is. Keep one instance per
    account per process: it owns an HTTP session and a rate limiter.
    """

    def __init__(self, exchange_id: str, api_key: str | None = None, secret: str | None = None,
                 *, markets: Mapping | list | None = None, urls_api: str | Mapping | None = None,
                 timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 ccxt_config: Mapping[str, Any] | None = None) -> None:
        if exchange_id not in ccxt_async.exchanges:
            raise PermanentExchangeError(f"ccxt does not know an exchange called {exchange_id!r}")
        self.exchange_id = exchange_id
        self._api_key = api_key or ""
        self._secret = secret or ""
        self._markets = markets
        self._urls_api = urls_api
        self._timeout_ms = timeout_ms
        self._ccxt_config = dict(ccxt_config or {})
        self._client: Client | None = None
        self._client_pid: int | None = None
        self._markets_key = _markets_key(exchange_id, urls_api)

    def __repr__(self) -> str:  # never the credentials
        return f"<LiveExchange {self.exchange_id}>"

    # -- market data --

    def now_ms(self) -> int:
        """The current time in epoch ms (a live exchange runs on the wall clock)."""
        return int(time.time() * 1000)

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                    limit: int | None = None) -> list[list]:
        """ccxt rows, oldest first; the last row may be the candle still forming."""
        return self._run(lambda client: client.fetch_ohlcv(symbol, timeframe, since_ms, limit))

    def fetch_ticker(self, symbol: str) -> Ticker:
        """The latest trade price and best bid/ask of `symbol`."""
        ticker = self._run(lambda client: client.fetch_ticker(symbol))
        return Ticker(symbol=symbol, last=_decimal_or_none(ticker.get("last")),
                      bid=_decimal_or_none(ticker.get("bid")),
                      ask=_decimal_or_none(ticker.get("ask")),
                      timestamp_ms=ticker.get("timestamp"))

    # -- orders --

    def create_order(self, request: OrderRequest) -> OrderState:
        """Check precision and limits, then send the order exactly once."""

        async def place(client: Client) -> dict:
            amount, price = _checked_amount_and_price(client, request)
            params = {self._client_id_param(): request.client_order_id}
            order_type = request.type
            if request.type == "stop_limit":
                # ccxt's unified stop-loss parameter: a limit order with it becomes the
                # exchange's stop-loss-limit order (binance spot: STOP_LOSS_LIMIT + stopPrice).
                order_type = "limit"
                params["stopLossPrice"] = float(_checked_stop_price(client, request))
            return await client.create_order(request.symbol, order_type, request.side,
                                             float(amount),
                                             float(price) if price is not None else None, params)

        try:
            order = self._run(place)
        except TemporaryExchangeError as exc:
            logger.warning("%s order %s: no answer (%s); it may exist, find it by client id",
                           self.exchange_id, request.client_order_id, exc)
            raise
        state = _order_state(order)
        if state.client_order_id is None:  # some exchanges do not echo it
            state = replace(state, client_order_id=request.client_order_id)
        return state

    def fetch_order(self, symbol: str, *, exchange_order_id: str | None = None,
                    client_order_id: str | None = None) -> OrderState:
        """One order by exchange id or by our client id; OrderNotFound when unknown."""
        if (exchange_order_id is None) == (client_order_id is None):
            raise ValueError("pass exactly one of exchange_order_id and client_order_id")
        params = {}
        if client_order_id is not None:
            lookup = _CLIENT_ID_LOOKUP_PARAM.get(self.exchange_id, "clientOrderId")
            params[lookup] = client_order_id
        order = self._run(lambda client: client.fetch_order(exchange_order_id, symbol, params))
        return _order_state(order)

    def cancel_order(self, symbol: str, exchange_order_id: str) -> OrderState:
        """Cancel an open order; OrderNotFound when it is unknown or already final."""
        return _order_state(self._run(lambda client: client.cancel_order(exchange_order_id,
                                                                         symbol)))

    def fetch_open_orders(self, symbol: str) -> list[OrderState]:
        """Orders of `symbol` that can still fill."""
        orders = self._run(lambda client: client.fetch_open_orders(symbol))
        return [_order_state(order) for order in orders]

    # -- account --

    def fetch_balance(self) -> dict[str, Balance]:
        """Balances by currency; currencies the account holds none of are left out."""
        balance = self._run(lambda client: client.fetch_balance())
        return _balances(balance)

    def fetch_my_trades(self, symbol: str, since_ms: int | None = None) -> list[TradeFill]:
        """Our fills on `symbol` since `since_ms` (inclusive), oldest first, without repeats."""
        trades = self._run(lambda client: _paged_my_trades(client, symbol, since_ms))
        return [_trade_fill(trade) for trade in trades]

    def fetch_order_trades(self, symbol: str, state: OrderState) -> list[TradeFill]:
        """The executions of one order (our fills since it was placed, matched by id)."""
        return [fill for fill in self.fetch_my_trades(symbol, since_ms=state.timestamp_ms)
                if fill.exchange_order_id == state.exchange_order_id]

    def catalogue(self) -> dict[str, tuple[str, ...]]:
        """The exchange's active spot markets, each with the candle timeframes it publishes
        that this product supports (ccxt load_markets, shared in the process)."""

        async def read(client: Client) -> dict[str, tuple[str, ...]]:
            if self._markets is None:  # ask the exchange: new listings are the point
                await client.load_markets(True)
                _MARKET_SOURCES[self._markets_key] = client
                _remember_spot_rules(self.exchange_id, client)
            else:  # markets given at construction (a sandbox) are all there is
                client.set_markets(self._markets)
            timeframes = tuple(tf for tf in SUPPORTED if tf in (client.timeframes or {}))
            return {symbol: timeframes for symbol, market in sorted(client.markets.items())
                    if market.get("spot") and market.get("active") is not False}

        return self._run(read, attach_markets=False)

    def market_rules(self, symbol: str) -> MarketRules:
        """The market's lot size and limits, as ccxt loaded them with the markets."""

        async def read(client: Client) -> MarketRules:
            market = _market(client, symbol)
            return MarketRules.from_ccxt(market, _amount_step(client, market))

        return self._run(read)

    def amount_step(self, symbol: str) -> Decimal:
        """The market's lot size, from the precision ccxt loaded with the markets."""

        async def read(client: Client) -> Decimal:
            return _amount_step(client, _market(client, symbol))

        return self._run(read)

    def verify_credentials(self) -> AccountPermissions:
        """What this API key may do, as the exchange reports it; AuthenticationError if refused.

        Used to refuse keys that can withdraw. Where the exchange has no permissions endpoint
        the key is still proven (a balance read) and the permissions come back as None.
        """
        reader = _PERMISSION_READERS.get(self.exchange_id, _permissions_unknown)
        return self._run(reader)

    def close(self) -> None:
        """Close the HTTP session; later calls open a new one."""
        client, self._client = self._client, None
        if client is not None and self._client_pid == os.getpid():
            _LOOP.run(lambda: client.close(), self._guard_seconds())

    # -- plumbing --

    def _client_id_param(self) -> str:
        return _CLIENT_ID_PARAM.get(self.exchange_id, "clientOrderId")

    def _guard_seconds(self) -> float:
        # One call may wait for the rate limiter, load markets and then make its request.
        return 3 * self._timeout_ms / 1000 + 5

    def _run(self, operation: Callable[[Client], Awaitable[T]], *,
             attach_markets: bool = True) -> T:
        """Run `operation(client)` on the shared loop; ccxt errors come out as ours.
        The client gets its markets first unless the operation loads them itself."""

        async def call() -> T:
            client = self._current_client()
            try:
                if attach_markets and not client.markets:
                    await self._attach_markets(client)
                return await operation(client)
            except ExchangeError:
                raise
            except _TRANSLATED as exc:
                raise _translate(exc, client, (self._api_key, self._secret)) from None

        return _LOOP.run(call, self._guard_seconds())

    def _current_client(self) -> Client:
        """This process's client (runs on the loop thread, so no two calls race here)."""
        if self._client is None or self._client_pid != os.getpid():
            # After a fork the old client belongs to the parent's loop: start afresh.
            self._client = self._build_client()
            self._client_pid = os.getpid()
            _open_clients.add(self._client)
        return self._client

    def _build_client(self) -> Client:
        options = {**_EXCHANGE_OPTIONS.get(self.exchange_id, {}),
                   # Never let ccxt resend a request on its own: an order must go out once.
                   "maxRetriesOnFailure": 0}
        config = {"apiKey": self._api_key, "secret": self._secret, "enableRateLimit": True,
                  "timeout": self._timeout_ms, "options": options,
                  "asyncio_loop": asyncio.get_running_loop(), **self._ccxt_config}
        client = getattr(ccxt_async, self.exchange_id)(config)
        if self._urls_api is not None:
            client.urls["api"] = _rewritten_api_urls(client.urls["api"], self._urls_api)
        return client

    async def _attach_markets(self, client: Client) -> None:
        if self._markets is not None:
            client.set_markets(self._markets)
            return
        key = self._markets_key
        lock = _LOOP.market_locks.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent first calls load once, the others wait and share
            source = _MARKET_SOURCES.get(key)
            if source is None:
                await client.load_markets()
                _MARKET_SOURCES[key] = client
                _remember_spot_rules(self.exchange_id, client)
                return
        client.set_markets_from_exchange(source)


_shared: dict[tuple[str, str, str], LiveExchange] = {}
_shared_lock = threading.Lock()


def shared_live_exchange(exchange_id: str, api_key: str | None = None,
                         secret: str | None = None, **kwargs: Any) -> LiveExchange:
    """The process's one LiveExchange for these credentials (session and limiter reused).

    Keyword arguments are those of `LiveExchange` and apply when it is first created.
    """
    fingerprint = hashlib.sha256(f"{api_key}\0{secret}".encode()).hexdigest()
    key = (exchange_id, fingerprint, repr(kwargs.get("urls_api")))
    with _shared_lock:
        exchange = _shared.get(key)
        if exchange is None:
            exchange = _shared[key] = LiveExchange(exchange_id, api_key, secret, **kwargs)
        return exchange


# --- History -------------------------------------------------------------------------------


def fetch_ohlcv_pages(exchange: Exchange, symbol: str, timeframe: str, since_ms: int,
                      until_ms: int, *, page_limit: int = 1000, retries: int = 3,
                      sleep: Callable[[float], None] = time.sleep) -> Iterator[list[list]]:
    """Closed candles with since_ms <= ts < until_ms, paging forward through the exchange,
    one page at a time (non-empty, ascending), so a long download can store and report as it
    goes instead of holding years of rows.

    Reads are safe to repeat, so a temporary failure is retried `retries` times with backoff
    (honouring Retry-After); what still fails is raised.
    """
    period = timeframe_ms(timeframe)
    cursor = since_ms
    while cursor < until_ms:
        page = _read_with_retries(
            lambda since=cursor: exchange.fetch_ohlcv(symbol, timeframe, since, page_limit),
            retries, sleep)
        closed_before = min(until_ms, exchange_now_ms(exchange) - period + 1)
        fresh = [row for row in page if cursor <= row[0] < closed_before]
        if not fresh:
            break  # the exchange has nothing newer (or the rest is still forming)
        yield fresh
        cursor = int(fresh[-1][0]) + period


def exchange_now_ms(exchange: Exchange) -> int:
    """The exchange's idea of now: its own clock when it has one (replay), else wall time."""
    now = getattr(exchange, "now_ms", None)
    return now() if callable(now) else int(time.time() * 1000)


def _read_with_retries(read: Callable[[], T], retries: int,
                       sleep: Callable[[float], None]) -> T:
    for attempt in range(retries + 1):
        try:
            return read()
        except TemporaryExchangeError as exc:
            if attempt == retries:
                raise
            wait = getattr(exc, "retry_after", None)
            sleep(min(30.0, wait if wait is not None else 2.0**attempt))
    raise AssertionError("unreachable")


# --- URLs and markets ------------------------------------------------------------------------


def _markets_key(exchange_id: str, urls_api: str | Mapping | None) -> str:
    return exchange_id if urls_api is None else f"{exchange_id}@{urls_api!r}"


def _rewritten_api_urls(urls: Any, target: str | Mapping) -> Any:
    """ccxt's `urls['api']` with every URL's scheme and host replaced by those of `target`."""
    if isinstance(target, Mapping):
        return dict(target)
    if isinstance(urls, Mapping):
        return {name: _rewritten_api_urls(value, target) for name, value in urls.items()}
    if not isinstance(urls, str):
        return urls
    base = target.rstrip("/")
    parts = urlsplit(urls)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return base + rest


# --- Orders: checks before sending, and what comes back ---------------------------------------


def _checked_amount_and_price(client: Client, request: OrderRequest
                              ) -> tuple[Decimal, Decimal | None]:
    """The amount and price as the exchange will accept them, or InvalidOrder saying why."""
    symbol = request.symbol
    _check_client_order_id(client.id, request.client_order_id)
    market = _market(client, symbol)
    limits = market.get("limits") or {}
    amount = _to_amount_precision(client, market, request.amount)
    _check_range(symbol, "amount", amount, limits.get("amount"), market.get("base"))
    price = None
    if request.type in PRICED_TYPES:
        price = _to_price_precision(client, market, request.price, limits)
    # A market order has no price to send; the caller's expected price still shows whether
    # the order is too small to be accepted.
    reference = price if price is not None else request.price
    if reference is not None:
        _check_range(symbol, "order value", amount * reference, limits.get("cost"),
                     market.get("quote"))
    return amount, price


def _to_price_precision(client: Client, market: dict, value: Decimal,
                        limits: Mapping) -> Decimal:
    """`value` at the market's tick size, or InvalidOrder when it rounds to 0 or is out of range."""
    symbol = market["symbol"]
    price = Decimal(client.price_to_precision(symbol, str(value)))
    if price <= 0:
        raise InvalidOrder(f"{symbol}: price {value} rounds to 0 at the exchange's tick size")
    _check_range(symbol, "price", price, limits.get("price"), market.get("quote"))
    return price


def _checked_stop_price(client: Client, request: OrderRequest) -> Decimal:
    """A stop order's trigger at the exchange's tick size (ccxt rounds it the same way)."""
    market = _market(client, request.symbol)
    return _to_price_precision(client, market, request.stop_price, market.get("limits") or {})


@functools.cache
def supports_resting_stops(exchange_id: str) -> bool:
    """Whether `exchange_id` accepts a stop-loss-limit order that rests at the exchange, as
    ccxt describes it (a limit order with the unified `stopLossPrice`). Read once per process
    from an unconnected client (no session, no request)."""
    if exchange_id not in ccxt_async.exchanges:
        return False
    has = getattr(ccxt_async, exchange_id)({}).has
    return bool(has.get("createStopLossOrder") and has.get("createStopLimitOrder"))


def _check_client_order_id(exchange_id: str, client_order_id: str) -> None:
    pattern = _CLIENT_ID_FORMATS.get(exchange_id)
    if pattern is not None and not pattern.fullmatch(client_order_id):
        raise InvalidOrder(f"client order id {client_order_id!r} does not fit {exchange_id}'s "
                           f"format {pattern.pattern}")


def _market(client: Client, symbol: str) -> dict:
    try:
        return client.market(symbol)
    except ccxt_errors.BadSymbol:
        raise InvalidOrder(f"{client.id} has no market {symbol}") from None


def _to_amount_precision(client: Client, market: dict, amount: Decimal) -> Decimal:
    try:
        rounded = Decimal(client.amount_to_precision(market["symbol"], str(amount)))
    except ccxt_errors.InvalidOrder:
        rounded = Decimal(0)
    if rounded <= 0:
        step = (market.get("precision") or {}).get("amount")
        raise InvalidOrder(f"{market['symbol']}: amount {amount} rounds to 0 at the exchange's "
                           f"step of {step}")
    return rounded


def _remember_spot_rules(exchange_id: str, client: Client) -> None:
    """Let paper accounts on this exchange follow the real markets' rules."""
    remember_market_rules(exchange_id, [
        MarketRules.from_ccxt(market, _amount_step(client, market))
        for market in client.markets.values() if market.get("spot")])


def _amount_step(client: Client, market: dict) -> Decimal:
    """The lot size in ccxt's precision modes: a tick size, or a count of decimal places.
    Significant-digit precision has no fixed step: the ledger's own resolution stands in."""
    precision = (market.get("precision") or {}).get("amount")
    if precision is None or client.precisionMode == SIGNIFICANT_DIGITS:
        return LEDGER_AMOUNT_STEP
    if client.precisionMode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(precision))
    return Decimal(str(precision))  # TICK_SIZE


def _check_range(symbol: str, what: str, value: Decimal, limit: Mapping | None,
                 unit: str | None) -> None:
    """InvalidOrder when `value` falls outside the market's [min, max] for `what`."""
    limit = limit or {}
    low, high = limit.get("min"), limit.get("max")
    suffix = f" {unit}" if unit else ""
    if low is not None and value < Decimal(str(low)):
        raise InvalidOrder(f"{symbol}: {what} {value.normalize():f}{suffix} is below the "
                           f"exchange minimum of {low}{suffix}")
    if high is not None and high > 0 and value > Decimal(str(high)):
        raise InvalidOrder(f"{symbol}: {what} {value.normalize():f}{suffix} is above the "
                           f"exchange maximum of {high}{suffix}")


def _order_state(order: Mapping) -> OrderState:
    """Our OrderState from a ccxt order structure."""
    info = order.get("info") or {}
    amount = _decimal(order.get("amount"))
    filled = _decimal(order.get("filled"))
    remaining = order.get("remaining")
    price = _decimal_or_none(order.get("price")) or None  # ccxt gives 0 for market orders
    fee, fee_currency = _order_fee(order)
    stop_price = _decimal_or_none(order.get("triggerPrice") or order.get("stopLossPrice"))
    return OrderState(
        exchange_order_id=str(order.get("id")),
        # A binance cancel answer's clientOrderId names the cancel request; the order's own
        # id is origClientOrderId there.
        client_order_id=info.get("origClientOrderId") or order.get("clientOrderId"),
        symbol=order.get("symbol"),
        side=order.get("side"),
        type=_order_type(order.get("type"), price, stop_price),
        # "canceling" or a status ccxt could not name: the order may still fill.
        status=_STATUSES.get(order.get("status"), "open"),
        amount=amount,
        filled=filled,
        remaining=_decimal(remaining) if remaining is not None else amount - filled,
        average=_decimal_or_none(order.get("average")),
        price=price,
        fee=fee,
        fee_currency=fee_currency,
        timestamp_ms=int(order.get("timestamp") or order.get("lastUpdateTimestamp")
                         or time.time() * 1000),
        stop_price=stop_price,
    )


def _order_type(ccxt_type: str | None, price: Decimal | None,
                stop_price: Decimal | None = None) -> str:
    if stop_price is not None and price is not None:  # ccxt calls a stop-limit "limit"
        return "stop_limit"
    if ccxt_type in ORDER_TYPES:
        return ccxt_type
    return "limit" if price is not None else "market"


def _order_fee(order: Mapping) -> tuple[Decimal, str | None]:
    """The order's fee when the exchange reported it in one currency, else (0, None)."""
    fees = [fee for fee in (order.get("fees") or [order.get("fee")])
            if fee and fee.get("cost") is not None]
    currencies = {fee.get("currency") for fee in fees}
    if len(currencies) != 1:
        return Decimal(0), None
    return sum((_decimal(fee["cost"]) for fee in fees), Decimal(0)), currencies.pop()


def _trade_fill(trade: Mapping) -> TradeFill:
    """Our TradeFill from a ccxt trade structure."""
    info = trade.get("info") or {}
    fee = trade.get("fee") or {}
    return TradeFill(
        trade_id=str(trade.get("id")),
        exchange_order_id=str(trade.get("order")),
        client_order_id=trade.get("clientOrderId") or info.get("clientOrderId"),
        symbol=trade.get("symbol"),
        side=trade.get("side"),
        amount=_decimal(trade.get("amount")),
        price=_decimal(trade.get("price")),
        fee=_decimal(fee.get("cost")),
        fee_currency=fee.get("currency"),
        timestamp_ms=int(trade.get("timestamp") or 0),
    )


async def _paged_my_trades(client: Client, symbol: str, since_ms: int | None) -> list[dict]:
    """All trades since `since_ms`: page forward by time while pages come back full."""
    seen: dict[str, dict] = {}
    since = since_ms
    for _ in range(MY_TRADES_MAX_PAGES):
        page = await client.fetch_my_trades(symbol, since, MY_TRADES_PAGE)
        fresh = [trade for trade in page if str(trade.get("id")) not in seen]
        seen.update((str(trade.get("id")), trade) for trade in fresh)
        if since is None or not fresh or len(page) < MY_TRADES_PAGE:
            break
        # Inclusive restart at the newest time seen, so trades sharing that ms are not lost.
        since = max(int(trade.get("timestamp") or 0) for trade in page)
    return sorted(seen.values(), key=lambda trade: (trade.get("timestamp") or 0,
                                                    str(trade.get("id"))))


def _balances(balance: Mapping) -> dict[str, Balance]:
    result = {}
    for currency, total in (balance.get("total") or {}).items():
        entry = balance.get(currency) or {}
        free, used = _decimal(entry.get("free")), _decimal(entry.get("used"))
        total = _decimal(total)
        if total or free or used:
            result[currency] = Balance(currency=currency, free=free, used=used, total=total)
    return result


def _decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# --- Account permissions -----------------------------------------------------------------


async def _binance_permissions(client: Client) -> AccountPermissions:
    restrictions = await client.sapi_get_account_apirestrictions()
    return AccountPermissions(
        can_trade=bool(restrictions.get("enableSpotAndMarginTrading")),
        can_withdraw=bool(restrictions.get("enableWithdrawals")),
        ip_restricted=bool(restrictions.get("ipRestrict")),
    )


async def _permissions_unknown(client: Client) -> AccountPermissions:
    await client.fetch_balance()  # proves the key is accepted
    return AccountPermissions(can_trade=None, can_withdraw=None, ip_restricted=None)


_PERMISSION_READERS: dict[str, Callable[[Client], Awaitable[AccountPermissions]]] = {
    "binance": _binance_permissions,
}


# --- Errors ----------------------------------------------------------------------------------

# First match wins; ccxt's hierarchy puts OrderNotFound under InvalidOrder and every network
# trouble under NetworkError / OperationFailed.
_ERROR_MAP: tuple[tuple[type[BaseException], type[ExchangeError]], ...] = (
    (ccxt_errors.AuthenticationError, AuthenticationError),  # includes PermissionDenied
    (ccxt_errors.InsufficientFunds, InsufficientFunds),
    (ccxt_errors.OrderNotFound, OrderNotFound),
    (ccxt_errors.DuplicateOrderId, DuplicateClientOrderId),
    (ccxt_errors.InvalidOrder, InvalidOrder),
    (ccxt_errors.BadSymbol, InvalidOrder),
    (ccxt_errors.NetworkError, TemporaryExchangeError),  # timeouts, 5xx, not available
    (ccxt_errors.OperationFailed, TemporaryExchangeError),  # bad or empty answers
)
_DUPLICATE_MESSAGES = ("Duplicate order sent",)
# binance's "Invalid API-key, IP, or permissions for action."
_REVOKED_KEY = re.compile(r'"code"\s*:\s*-2015\b')
# What `_translate` understands; anything else is a bug here and propagates unchanged.
_TRANSLATED = (TimeoutError, ccxt_errors.BaseError, aiohttp.ClientError, OSError)


def _translate(error: BaseException, client: Client,
               credentials: tuple[str, ...]) -> ExchangeError:
    """Our error for a ccxt (or transport) error, with a message safe to log."""
    message = _safe_message(error, credentials)
    if isinstance(error, ccxt_errors.DDoSProtection) and _REVOKED_KEY.search(str(error)):
        # Once a client has signed a request, ccxt reads binance's -2015 as a temporary ban;
        # it is also what a deleted or disabled key answers. Either way the request was
        # refused: a refusal, counted by the bot's breaker, never an answer to wait for.
        return AuthenticationError(message)
    if isinstance(error, (ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection)):
        # DDoSProtection is how ccxt reports binance's 429 and 418: back off either way.
        headers = getattr(client, "last_response_headers", None)
        return RateLimited(message, retry_after=retry_after_seconds(headers))
    if isinstance(error, ccxt_errors.InvalidOrder) and any(
            text in str(error) for text in _DUPLICATE_MESSAGES):
        return DuplicateClientOrderId(message)
    for ccxt_class, ours in _ERROR_MAP:
        if isinstance(error, ccxt_class):
            return ours(message)
    if isinstance(error, ccxt_errors.ExchangeError) and isinstance(error.__cause__,
                                                                   aiohttp.ClientError):
        return TemporaryExchangeError(message)  # the connection broke mid-answer
    if isinstance(error, ccxt_errors.BaseError):
        return PermanentExchangeError(message)
    return TemporaryExchangeError(message)  # transport errors outside ccxt's wrapping


def _safe_message(error: BaseException, credentials: tuple[str, ...]) -> str:
    """The error's text without signed query strings or credentials, kept short."""
    text = str(error) or type(error).__name__
    text = _URL_QUERY.sub(r"\1?…", text)
    for secret in credentials:
        if secret:
            text = text.replace(secret, "***")
    return f"{type(error).__name__}: {text[:500]}"


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); None if absent."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
