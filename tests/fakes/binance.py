"""A local stand-in for Binance spot REST, spoken to by the real ccxt client in tests.

It answers the endpoints ccxt's binance class calls for spot trading, in the JSON shapes ccxt
parses: exchangeInfo, klines, ticker, time, account, order (POST/GET/DELETE), openOrders,
myTrades and sapi account/apiRestrictions. Signed requests are checked like Binance does
(X-MBX-APIKEY, HMAC-SHA256 over the parameters, timestamp within recvWindow). Orders live in
memory: market orders fill at the configured price, limit orders fill when marketable or
when `set_price` crosses them; balances are reserved and settled; Binance's filters apply.
Commissions are taken as Binance takes them from an account without BNB: a buy's from the
coin bought, a sell's from the quote received; `pay_fees_with("BNB", price)` charges them
in BNB instead.

Tests drive faults per path: `timeout_next`, `rate_limit_next`, `server_error_next`,
`lose_response_next` (the order is accepted, the answer never arrives) and
`partial_fill_next`; `request_count(path)` counts what reached the server.

Fixtures: `fake_binance_server` (one server per session), `fake_binance` (reset per test) and
`binance_exchange` (a LiveExchange pointed at it). Import this module as a pytest plugin.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import ccxt
import pytest

from trading.exchanges.live import LiveExchange

DEFAULT_API_KEY = "fake-binance-key-0123456789"
DEFAULT_SECRET = "fake-binance-secret-9876543210"
FEE_RATE = Decimal("0.001")
HANG_SECONDS = 5.0  # how long a "timeout" fault holds a request open (released on reset)
RECV_WINDOW_MS = 5000
CLIENT_ID_FORMAT = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
STOP_TYPES = ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")

# symbol id -> (base, quote, tick size, step size, min notional)
MARKETS = {
    "BTCUSDT": ("BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("5")),
    "ETHUSDT": ("ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("5")),
}
DEFAULT_PRICES = {"BTCUSDT": Decimal("50000"), "ETHUSDT": Decimal("2500")}
DEFAULT_BALANCES = {"USDT": Decimal("100000"), "BTC": Decimal("1"), "ETH": Decimal("10")}


def market_id(symbol: str) -> str:
    """BTCUSDT for BTC/USDT (ids pass through)."""
    return symbol.replace("/", "")


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


# --- Market metadata ---------------------------------------------------------------------------


def exchange_info() -> dict:
    """GET /api/v3/exchangeInfo for the stand-in's markets."""
    return {"timezone": "UTC", "serverTime": _now_ms(), "rateLimits": [],
            "exchangeFilters": [], "symbols": [_symbol_info(i) for i in MARKETS]}


def _symbol_info(symbol_id: str) -> dict:
    base, quote, tick, step, min_notional = MARKETS[symbol_id]
    return {
        "symbol": symbol_id, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                       "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": _fmt(tick),
             "maxPrice": "1000000.00000000", "tickSize": _fmt(tick)},
            {"filterType": "LOT_SIZE", "minQty": _fmt(step), "maxQty": "9000.00000000",
             "stepSize": _fmt(step)},
            {"filterType": "NOTIONAL", "minNotional": _fmt(min_notional),
             "applyMinToMarket": True, "maxNotional": "9000000.00000000",
             "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def binance_markets() -> list[dict]:
    """ccxt market structures for the stand-in's markets, parsed by ccxt itself (offline).

    Pass them as `LiveExchange(markets=...)` to skip market loading.
    """
    parser = ccxt.binance({"options": {"crossMarginPairsData": [],
                                       "isolatedMarginPairsData": []}})
    return parser.parse_markets(exchange_info()["symbols"])


# --- Errors and faults -------------------------------------------------------------------------


class BinanceError(Exception):
    """An error answer in Binance's shape: HTTP status plus {"code", "msg"}."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass
class Fault:
    """What the next `remaining` requests to `path` suffer."""

    kind: str  # timeout | rate_limit | server_error | lost_response
    remaining: int
    status: int = 503
    retry_after: float | None = None
    mode: str = "disconnect"  # lost_response: "disconnect" or "timeout"


@dataclass
class Reply:
    """An HTTP answer, or `drop` to close the connection without one (after `hang`)."""

    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    hang: bool = False


# --- The stand-in ------------------------------------------------------------------------------


class FakeBinance:
    """State, matching engine, fault injection and HTTP server of the stand-in."""

    def __init__(self, api_key: str = DEFAULT_API_KEY, secret: str = DEFAULT_SECRET) -> None:
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.default_key = (api_key, secret)
        self.reset()

    # -- lifecycle --

    def start(self) -> FakeBinance:
        """Serve on 127.0.0.1 on an ephemeral port, in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="fake-binance").start()
        return self

    def stop(self) -> None:
        """Release held requests and shut the server down."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (pass as LiveExchange urls_api)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget orders, trades, faults and counters; default prices, balances and keys."""
        with self._lock:
            self._release.set()  # let any request still held by a timeout fault go
            self._release = threading.Event()
            self.keys = {self.default_key[0]: self.default_key[1]}
            self.prices = dict(DEFAULT_PRICES)
            self.balances = {asset: [free, Decimal(0)] for asset, free in
                             DEFAULT_BALANCES.items()}
            self.klines: dict[tuple[str, str], list[list]] = {}
            self.permissions = {"ipRestrict": False, "enableReading": True,
                                "enableWithdrawals": False, "enableInternalTransfer": False,
                                "enableMargin": False, "enableFutures": False,
                                "permitsUniversalTransfer": False,
                                "enableVanillaOptions": False,
                                "enableSpotAndMarginTrading": True}
            self.orders: dict[int, dict] = {}
            self.trades: list[dict] = []
            self.faults: dict[str, list[Fault]] = {}
            self.partial_fills: list[Decimal] = []
            self.requests: list[tuple[str, str]] = []
            self._order_ids = itertools.count(1001)
            self._trade_ids = itertools.count(5001)
            # Commissions: None is Binance's default (a buy pays in the coin bought, a sell
            # in the quote); an asset (BNB) with its quote price pays every fee in it.
            self.fee_asset: tuple[str, Decimal] | None = None

    # -- configuration --

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        """Move the market; resting limit orders it crosses fill at their limit (maker); stop
        orders it trades through trigger (see `_trigger_stops`)."""
        with self._lock:
            symbol_id = market_id(symbol)
            self.prices[symbol_id] = Decimal(str(price))
            self._trigger_stops(symbol_id)
            for order in list(self.orders.values()):
                if order["symbol"] == symbol_id and _is_open(order) and self._crosses(order):
                    self._execute(order, _remaining(order), Decimal(order["price"]), maker=True)

    def set_balance(self, asset: str, free: Decimal | str) -> None:
        """Set the free balance of `asset` (locked is left as it is)."""
        with self._lock:
            self.balances.setdefault(asset, [Decimal(0), Decimal(0)])[0] = Decimal(str(free))

    def set_klines(self, symbol: str, interval: str, rows: list[list]) -> None:
        """Candles served by /api/v3/klines: ccxt-style rows [ts, o, h, l, c, v], ascending."""
        with self._lock:
            self.klines[(market_id(symbol), interval)] = [list(row) for row in rows]

    def pay_fees_with(self, asset: str | None, price: Decimal | str = "0") -> None:
        """Charge every commission in `asset` worth `price` quote a unit, as Binance's "pay
        fees with BNB" does; None restores the default (a buy's fee in the coin bought)."""
        with self._lock:
            self.fee_asset = (asset, Decimal(str(price))) if asset else None

    def set_permissions(self, **flags: bool) -> None:
        """Override apiRestrictions flags, e.g. enableWithdrawals=True, ipRestrict=True."""
        with self._lock:
            self.permissions.update(flags)

    def fill(self, exchange_order_id: str | int, amount: Decimal | str | None = None) -> None:
        """Fill (part of) a resting order at its limit price, as a maker."""
        with self._lock:
            order = self.orders[int(exchange_order_id)]
            qty = _remaining(order) if amount is None else Decimal(str(amount))
            self._execute(order, qty, Decimal(order["price"]), maker=True)

    # -- fault injection --

    def timeout_next(self, path: str, times: int = 1) -> None:
        """The next `times` requests to `path` get no answer until the client gives up."""
        self._add_fault(path, Fault("timeout", times))

    def rate_limit_next(self, path: str, times: int = 1, retry_after: float = 0.05) -> None:
        """The next `times` requests to `path` get 429 with a Retry-After header."""
        self._add_fault(path, Fault("rate_limit", times, status=429, retry_after=retry_after))

    def server_error_next(self, path: str, times: int = 1, status: int = 503) -> None:
        """The next `times` requests to `path` get a 5xx with a plain-text body."""
        self._add_fault(path, Fault("server_error", times, status=status))

    def lose_response_next(self, path: str = "/api/v3/order", times: int = 1,
                           mode: str = "disconnect") -> None:
        """Carry out the next `times` requests to `path`, then drop the connection
        ("disconnect") or hold it until the client times out ("timeout").

        aiohttp resends an idempotent request (GET, DELETE) once when a reused connection
        drops, so for those use times=2 to make the loss visible; POST is never resent.
        """
        self._add_fault(path, Fault("lost_response", times, mode=mode))

    def partial_fill_next(self, fraction: Decimal | str, times: int = 1) -> None:
        """The next `times` orders fill only `fraction` of their amount on arrival; the rest
        of a market order expires, the rest of a limit order rests on the book."""
        with self._lock:
            self.partial_fills.extend([Decimal(str(fraction))] * times)

    def _add_fault(self, path: str, fault: Fault) -> None:
        with self._lock:
            self.faults.setdefault(path, []).append(fault)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path) or []
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    # -- observation --

    def request_count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests that reached the server (all, or to `path`, or `method` `path`)."""
        with self._lock:
            return sum(1 for m, p in self.requests
                       if (path is None or p == path) and (method is None or m == method))

    def orders_with_client_id(self, client_order_id: str) -> list[dict]:
        """Every order the stand-in accepted with this client order id."""
        with self._lock:
            return [dict(o) for o in self.orders.values()
                    if o["clientOrderId"] == client_order_id]

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """(free, locked) of `asset`."""
        with self._lock:
            free, locked = self.balances.get(asset, [Decimal(0), Decimal(0)])
            return free, locked

    def live_exchange(self, *, api_key: str | None = None, secret: str | None = None,
                      timeout_ms: int = 2000, with_markets: bool = True) -> LiveExchange:
        """A LiveExchange pointed at this stand-in (markets preset unless with_markets=False,
        which makes the client load them from /api/v3/exchangeInfo)."""
        return LiveExchange(
            "binance", api_key or self.default_key[0], secret or self.default_key[1],
            markets=binance_markets() if with_markets else None, urls_api=self.url,
            timeout_ms=timeout_ms,
            # The stand-in is local: a short rate-limit interval and no TLS shutdown wait
            # keep tests fast; the limiter itself stays on.
            ccxt_config={"rateLimit": 1, "timeout_on_exit": 0})

    # -- request handling --

    def handle(self, method: str, path: str, query: str, body: str,
               headers: dict[str, str]) -> Reply:
        """Answer one HTTP request, applying any fault queued for its path."""
        with self._lock:
            self.requests.append((method, path))
        fault = self._take_fault(path)
        if fault is not None and fault.kind != "lost_response":
            return _fault_reply(fault)
        try:
            reply = Reply(body=self._route(method, path, query, body, headers))
        except BinanceError as exc:
            reply = Reply(status=exc.status, body={"code": exc.code, "msg": exc.msg})
        if fault is not None:  # the work is done; the answer is lost
            return Reply(drop=True, hang=fault.mode == "timeout")
        return reply

    def hang(self) -> None:
        """Hold the calling request thread until reset/stop or HANG_SECONDS."""
        self._release.wait(HANG_SECONDS)

    def _route(self, method: str, path: str, query: str, body: str,
               headers: dict[str, str]) -> object:
        public = _PUBLIC_ROUTES.get((method, path))
        signed = _SIGNED_ROUTES.get((method, path))
        if public is None and signed is None:
            raise BinanceError(404, -1, f"no route {method} {path}")
        with self._lock:
            if public is not None:
                return public(self, dict(parse_qsl(query)))
            return signed(self, self._authenticate(query, body, headers))

    def _authenticate(self, query: str, body: str, headers: dict[str, str]) -> dict[str, str]:
        api_key = headers.get("x-mbx-apikey")
        if not api_key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        secret = self.keys.get(api_key)
        if secret is None:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        total = query + body  # Binance signs the query string followed by the body
        match = re.fullmatch(r"(.*)&signature=([0-9a-fA-F]+)", total)
        if match is None:
            raise BinanceError(400, -1102, "Mandatory parameter 'signature' was not sent, "
                                           "was empty/null, or malformed.")
        expected = hmac.new(secret.encode(), match.group(1).encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), match.group(2).lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(match.group(1)))
        window = int(params.get("recvWindow", RECV_WINDOW_MS))
        if abs(_now_ms() - int(params.get("timestamp", 0))) > window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the "
                                           "recvWindow.")
        return params

    # -- public endpoints --

    def _time(self, params: dict) -> dict:
        return {"serverTime": _now_ms()}

    def _exchange_info(self, params: dict) -> dict:
        return exchange_info()

    def _klines(self, params: dict) -> list[list]:
        rows = self.klines.get((self._symbol(params), params.get("interval")), [])
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        limit = min(int(params.get("limit", 500)), 1000)
        window = [row for row in rows if start <= row[0] <= end]
        window = window[:limit] if "startTime" in params else window[-limit:]
        return [_kline(row, params.get("interval")) for row in window]

    def _ticker_24hr(self, params: dict) -> dict | list[dict]:
        if "symbol" not in params:
            return [self._ticker_for(symbol_id) for symbol_id in MARKETS]
        return self._ticker_for(self._symbol(params))

    def _ticker_for(self, symbol_id: str) -> dict:
        price, tick = self.prices[symbol_id], MARKETS[symbol_id][2]
        now = _now_ms()
        return {"symbol": symbol_id, "priceChange": "0.00000000",
                "priceChangePercent": "0.000", "weightedAvgPrice": _fmt(price),
                "prevClosePrice": _fmt(price), "lastPrice": _fmt(price),
                "lastQty": "0.01000000", "bidPrice": _fmt(price - tick), "bidQty": "1.00000000",
                "askPrice": _fmt(price + tick), "askQty": "1.00000000",
                "openPrice": _fmt(price), "highPrice": _fmt(price), "lowPrice": _fmt(price),
                "volume": "1000.00000000", "quoteVolume": _fmt(price * 1000),
                "openTime": now - 86_400_000, "closeTime": now, "firstId": 1, "lastId": 1000,
                "count": 1000}

    def _symbol(self, params: dict) -> str:
        symbol_id = params.get("symbol")
        if symbol_id not in MARKETS:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return symbol_id

    # -- endpoints (called with the lock held) --

    def _account(self, params: dict) -> dict:
        trading = bool(self.permissions.get("enableSpotAndMarginTrading"))
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
                "sellerCommission": 0, "canTrade": trading,
                "canWithdraw": bool(self.permissions.get("enableWithdrawals")),
                "canDeposit": True, "brokered": False, "requireSelfTradePrevention": False,
                "preventSor": False, "updateTime": _now_ms(), "accountType": "SPOT",
                "balances": [{"asset": asset, "free": _fmt(free), "locked": _fmt(locked)}
                             for asset, (free, locked) in sorted(self.balances.items())],
                "permissions": ["SPOT"], "uid": 4242}

    def _api_restrictions(self, params: dict) -> dict:
        return {**self.permissions, "createTime": 1_700_000_000_000,
                "tradingAuthorityExpirationTime": 1_900_000_000_000}

    def _new_order(self, params: dict) -> dict:
        self._require_trading()
        symbol_id = self._symbol(params)
        order = self._validated_order(symbol_id, params)
        self._reserve(order)
        self.orders[order["orderId"]] = order
        self._match_on_arrival(order)
        return self._order_reply(order, params.get("newOrderRespType", "FULL"))

    def _get_order(self, params: dict) -> dict:
        return _public_order(self._find_order(params, -2013, "Order does not exist."))

    def _cancel_order(self, params: dict) -> dict:
        self._require_trading()
        order = self._find_order(params, -2011, "Unknown order sent.")
        if not _is_open(order):
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._release_reserve(order, _remaining(order))
        order.update(status="CANCELED", updateTime=_now_ms())
        return {**_public_order(order), "origClientOrderId": order["clientOrderId"],
                "clientOrderId": secrets.token_hex(11), "transactTime": _now_ms()}

    def _open_orders(self, params: dict) -> list[dict]:
        symbol_id = params.get("symbol")
        return [_public_order(o) for o in self.orders.values()
                if _is_open(o) and (symbol_id is None or o["symbol"] == symbol_id)]

    def _my_trades(self, params: dict) -> list[dict]:
        symbol_id = self._symbol(params)
        limit = min(int(params.get("limit", 500)), 1000)
        trades = [t for t in self.trades if t["symbol"] == symbol_id]
        if "startTime" in params:
            start = int(params["startTime"])
            end = int(params.get("endTime", start + 86_400_000))
            return [t for t in trades if start <= t["time"] <= end][:limit]
        return trades[-limit:]

    # -- the matching engine --

    def _require_trading(self) -> None:
        if not self.permissions.get("enableSpotAndMarginTrading"):
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def _validated_order(self, symbol_id: str, params: dict) -> dict:
        _, _, tick, step, min_notional = MARKETS[symbol_id]
        kind, side = params.get("type"), params.get("side")
        if kind not in ("MARKET", "LIMIT", *STOP_TYPES) or side not in ("BUY", "SELL"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        qty = Decimal(params.get("quantity", "0"))
        if qty < step or qty % step:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        price = Decimal(params["price"]) if kind != "MARKET" else None
        if price is not None and (price < tick or price % tick):
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        stop_price = self._validated_stop_price(symbol_id, kind, side, params)
        if qty * (price or self.prices[symbol_id]) < min_notional:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
        client_id = params.get("newClientOrderId") or secrets.token_hex(11)
        if not CLIENT_ID_FORMAT.fullmatch(client_id):
            raise BinanceError(400, -1100, "Illegal characters found in parameter "
                                           "'newClientOrderId'; legal range is "
                                           f"'{CLIENT_ID_FORMAT.pattern}'.")
        # Binance: a client order id must be unique among *open* orders only.
        if any(o["clientOrderId"] == client_id and _is_open(o) for o in self.orders.values()):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        now = _now_ms()
        return {"symbol": symbol_id, "orderId": next(self._order_ids), "orderListId": -1,
                "clientOrderId": client_id, "price": _fmt(price or Decimal(0)),
                "origQty": _fmt(qty), "executedQty": _fmt(Decimal(0)),
                "cummulativeQuoteQty": _fmt(Decimal(0)), "status": "NEW",
                "timeInForce": "GTC", "type": kind,
                "side": side, "stopPrice": _fmt(stop_price or Decimal(0)),
                "icebergQty": "0.00000000", "time": now, "updateTime": now,
                "isWorking": stop_price is None, "workingTime": now if stop_price is None else -1,
                "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER",
                "_reserve_price": price or self.prices[symbol_id], "_fills": []}

    def _reserve(self, order: dict) -> None:
        """Lock what the order may spend, or refuse it like Binance."""
        asset, amount = self._reserve_need(order, Decimal(order["origQty"]))
        free, locked = self.balances.setdefault(asset, [Decimal(0), Decimal(0)])
        if free < amount:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested "
                                           "action.")
        self.balances[asset] = [free - amount, locked + amount]

    def _reserve_need(self, order: dict, qty: Decimal) -> tuple[str, Decimal]:
        base, quote = MARKETS[order["symbol"]][:2]
        if order["side"] == "BUY":
            return quote, qty * order["_reserve_price"]
        return base, qty

    def _release_reserve(self, order: dict, qty: Decimal) -> None:
        asset, amount = self._reserve_need(order, qty)
        free, locked = self.balances[asset]
        self.balances[asset] = [free + amount, locked - amount]

    # -- stop orders (STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT): rest untriggered, lock their coins --

    def _validated_stop_price(self, symbol_id: str, kind: str, side: str,
                              params: dict) -> Decimal | None:
        """The trigger of a stop order (None for other orders), refused like Binance when it
        breaks the tick size or would trigger at once."""
        if kind not in STOP_TYPES:
            return None
        tick = MARKETS[symbol_id][2]
        stop_price = Decimal(params.get("stopPrice") or "0")
        if stop_price < tick or stop_price % tick:
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        if _stop_reached(kind, side, stop_price, self.prices[symbol_id]):
            raise BinanceError(400, -2010, "Stop price would trigger immediately.")
        return stop_price

    def _trigger_stops(self, symbol_id: str) -> None:
        """Stops the price has traded through become limit orders: marketable ones fill at
        the market price (taker), the others rest at their limit."""
        price = self.prices[symbol_id]
        for order in list(self.orders.values()):
            if (order["symbol"] != symbol_id or order["type"] not in STOP_TYPES
                    or order["isWorking"] or not _is_open(order)):
                continue
            if _stop_reached(order["type"], order["side"], Decimal(order["stopPrice"]), price):
                order.update(isWorking=True, workingTime=_now_ms())
                if self._crosses(order):
                    self._execute(order, _remaining(order), price, maker=False)

    def _match_on_arrival(self, order: dict) -> None:
        if not order["isWorking"]:
            return  # an untriggered stop waits for the price
        fraction = self.partial_fills.pop(0) if self.partial_fills else Decimal(1)
        step = MARKETS[order["symbol"]][3]
        qty = (Decimal(order["origQty"]) * fraction).quantize(step, rounding=ROUND_DOWN)
        market_price = self.prices[order["symbol"]]
        if order["type"] == "MARKET" or self._crosses(order):
            if qty > 0:
                self._execute(order, qty, market_price, maker=False)
        if order["type"] == "MARKET" and _is_open(order):
            # What a market order could not take expires, as on Binance.
            self._release_reserve(order, _remaining(order))
            order.update(status="EXPIRED", updateTime=_now_ms())

    def _crosses(self, order: dict) -> bool:
        if not order["isWorking"]:
            return False  # an untriggered stop
        market_price, limit = self.prices[order["symbol"]], Decimal(order["price"])
        return limit >= market_price if order["side"] == "BUY" else limit <= market_price

    def _execute(self, order: dict, qty: Decimal, price: Decimal, *, maker: bool) -> None:
        """Fill `qty` of `order` at `price`: settle balances and record the trade."""
        base, quote = MARKETS[order["symbol"]][:2]
        buying = order["side"] == "BUY"
        cost = qty * price
        asset, reserved = self._reserve_need(order, qty)
        free, locked = self.balances[asset]
        spent = cost if buying else qty
        self.balances[asset] = [free + reserved - spent, locked - reserved]
        gained, amount = (base, qty) if buying else (quote, cost)
        self.balances.setdefault(gained, [Decimal(0), Decimal(0)])[0] += amount
        commission, commission_asset = self._commission(gained, amount, cost)
        self.balances.setdefault(commission_asset, [Decimal(0), Decimal(0)])[0] -= commission
        self._record_trade(order, qty, price, commission, commission_asset, maker)

    def _commission(self, gained: str, amount: Decimal, cost: Decimal) -> tuple[Decimal, str]:
        """The fee of a fill worth `cost` quote that gained `amount` of `gained`: by default
        a share of what was gained (the coin bought, the quote of a sale), else the fee's
        value in the fee asset, to Binance's 8 places."""
        if self.fee_asset is None:
            return amount * FEE_RATE, gained
        asset, asset_price = self.fee_asset
        fee = (cost * FEE_RATE / asset_price).quantize(Decimal("1E-8"), rounding=ROUND_DOWN)
        return fee, asset

    def _record_trade(self, order: dict, qty: Decimal, price: Decimal, commission: Decimal,
                      commission_asset: str, maker: bool) -> None:
        now = _now_ms()
        trade = {"symbol": order["symbol"], "id": next(self._trade_ids),
                 "orderId": order["orderId"], "orderListId": -1, "price": _fmt(price),
                 "qty": _fmt(qty), "quoteQty": _fmt(qty * price),
                 "commission": _fmt(commission), "commissionAsset": commission_asset,
                 "time": now, "isBuyer": order["side"] == "BUY", "isMaker": maker,
                 "isBestMatch": True}
        self.trades.append(trade)
        order["_fills"].append(trade)
        executed = Decimal(order["executedQty"]) + qty
        full = executed >= Decimal(order["origQty"])
        order.update(executedQty=_fmt(executed), updateTime=now,
                     cummulativeQuoteQty=_fmt(Decimal(order["cummulativeQuoteQty"])
                                              + qty * price),
                     status="FILLED" if full else "PARTIALLY_FILLED")

    def _find_order(self, params: dict, code: int, msg: str) -> dict:
        symbol_id = self._symbol(params)
        if "orderId" in params:
            order = self.orders.get(int(params["orderId"]))
        else:
            client_id = params.get("origClientOrderId")
            matches = [o for o in self.orders.values() if o["clientOrderId"] == client_id]
            order = matches[-1] if matches else None  # the newest, as Binance answers
        if order is None or order["symbol"] != symbol_id:
            raise BinanceError(400, code, msg)
        return order

    def _order_reply(self, order: dict, kind: str) -> dict:
        ack = {"symbol": order["symbol"], "orderId": order["orderId"], "orderListId": -1,
               "clientOrderId": order["clientOrderId"], "transactTime": order["time"]}
        if kind == "ACK":
            return ack
        result = {**_public_order(order), **ack}
        if kind == "FULL":
            result["fills"] = [{"price": t["price"], "qty": t["qty"],
                                "commission": t["commission"],
                                "commissionAsset": t["commissionAsset"], "tradeId": t["id"]}
                               for t in order["_fills"]]
        return result


_PUBLIC_ROUTES = {
    ("GET", "/api/v3/ping"): lambda fake, params: {},
    ("GET", "/api/v3/time"): FakeBinance._time,
    ("GET", "/api/v3/exchangeInfo"): FakeBinance._exchange_info,
    ("GET", "/api/v3/klines"): FakeBinance._klines,
    ("GET", "/api/v3/ticker/24hr"): FakeBinance._ticker_24hr,
}
_SIGNED_ROUTES = {
    ("GET", "/api/v3/account"): FakeBinance._account,
    ("POST", "/api/v3/order"): FakeBinance._new_order,
    ("GET", "/api/v3/order"): FakeBinance._get_order,
    ("DELETE", "/api/v3/order"): FakeBinance._cancel_order,
    ("GET", "/api/v3/openOrders"): FakeBinance._open_orders,
    ("GET", "/api/v3/myTrades"): FakeBinance._my_trades,
    ("GET", "/sapi/v1/account/apiRestrictions"): FakeBinance._api_restrictions,
}


def _stop_reached(kind: str, side: str, stop_price: Decimal, price: Decimal) -> bool:
    """Whether `price` triggers a stop: a sell stop-loss (or buy take-profit) at or below its
    trigger, a buy stop-loss (or sell take-profit) at or above it."""
    falling = (kind == "STOP_LOSS_LIMIT") == (side == "SELL")
    return price <= stop_price if falling else price >= stop_price


def _is_open(order: dict) -> bool:
    return order["status"] in ("NEW", "PARTIALLY_FILLED")


def _remaining(order: dict) -> Decimal:
    return Decimal(order["origQty"]) - Decimal(order["executedQty"])


def _public_order(order: dict) -> dict:
    return {key: value for key, value in order.items() if not key.startswith("_")}


def _kline(row: list, interval: str) -> list:
    ts, open_, high, low, close, volume = row[:6]
    minutes = {"m": 1, "h": 60, "d": 1440, "w": 10080}[interval[-1]] * int(interval[:-1])
    return [int(ts), str(open_), str(high), str(low), str(close), str(volume),
            int(ts) + minutes * 60_000 - 1, "0", 1, "0", "0", "0"]


def _fault_reply(fault: Fault) -> Reply:
    if fault.kind == "timeout":
        return Reply(drop=True, hang=True)
    if fault.kind == "rate_limit":
        return Reply(status=429, headers={"Retry-After": f"{fault.retry_after:g}"},
                     body={"code": -1003, "msg": "Too many requests; current limit of IP"
                                                 "(127.0.0.1) is 6000 requests per minute."})
    return Reply(status=fault.status, body=HTTPStatus(fault.status).phrase)


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- HTTP ----------------------------------------------------------------------------------


def _handler_for(fake: FakeBinance) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        do_POST = do_DELETE = do_GET

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = fake.handle(self.command, parts.path, parts.query, body, headers)
            if reply.drop:
                self._drop(reply.hang)
            else:
                self._send(reply)

        def _drop(self, hang: bool) -> None:
            if hang:
                fake.hang()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client already went away

        def _send(self, reply: Reply) -> None:
            is_text = isinstance(reply.body, str)
            payload = (reply.body if is_text else json.dumps(reply.body)).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/plain" if is_text
                             else "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler


# --- pytest fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_binance_server() -> Iterator[FakeBinance]:
    """One stand-in server for the whole session."""
    fake = FakeBinance().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_binance(fake_binance_server: FakeBinance) -> FakeBinance:
    """The stand-in, reset to default prices, balances and keys, with no faults queued."""
    fake_binance_server.reset()
    return fake_binance_server


@pytest.fixture
def binance_exchange(fake_binance: FakeBinance) -> Iterator[LiveExchange]:
    """A LiveExchange with valid keys pointed at the stand-in, markets preset."""
    exchange = fake_binance.live_exchange()
    yield exchange
    exchange.close()


@pytest.fixture
def binance_live(fake_binance: FakeBinance) -> Iterator[FakeBinance]:
    """Every signed binance client of the project (credential checks, live exchanges) talks
    to the stand-in."""
    from trading.exchanges.live_clients import reset_live_connections, set_live_connection

    set_live_connection("binance", urls_api=fake_binance.url, markets=binance_markets(),
                        timeout_ms=2000, ccxt_config={"rateLimit": 1, "timeout_on_exit": 0})
    yield fake_binance
    reset_live_connections()


@pytest.fixture
def exchange_markets(fake_binance: FakeBinance) -> Iterator[FakeBinance]:
    """This server reads the exchange itself: its public clients (market data, catalogue,
    downloads) talk to the stand-in, whose markets load from its exchangeInfo (nothing
    preset), with an empty shared cache around the test."""
    from django.core.cache import cache

    from trading.exchanges.factory import WallClockSource, reset_market_sources, set_market_source
    from trading.exchanges.live_clients import reset_live_connections, set_live_connection

    cache.clear()
    set_live_connection("binance", urls_api=fake_binance.url, timeout_ms=2000,
                        ccxt_config={"rateLimit": 1, "timeout_on_exit": 0})
    set_market_source("binance", WallClockSource("binance"))
    yield fake_binance
    reset_market_sources()
    reset_live_connections()
    cache.clear()
